"""The `tuner` command line: the parser, a handler per command, flag value types, and the printed tables."""
