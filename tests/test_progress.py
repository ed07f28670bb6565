"""Progress output of long runs: epoch lines at `-v`, from worker processes too."""

import re
import subprocess
import sys

from conftest import write_study


def test_verbose_tune_logs_every_epoch_of_every_worker(tmp_path):
    config = write_study(tmp_path, epochs=2)
    run = subprocess.run([sys.executable, "-m", "tuner.cli.parser", "tune", str(config), "--workers", "2", "--n-trials", "2",
                          "--no-progress", "-v"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    epochs = set(re.findall(r"INFO tuner\.tuning\.objective: trial (\d+) epoch (\d+): train loss", run.stderr))
    assert epochs == {("0", "0"), ("0", "1"), ("1", "0"), ("1", "1")}, run.stderr
