"""`python -m tuner.cli`: the `tuner` command."""

import sys

from tuner.cli.parser import main

sys.exit(main())
