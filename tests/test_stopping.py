"""A stop signal (Ctrl-C, SIGTERM) asks a tuning run to stop; the trial it lands in ends as FAIL at a
training batch, wherever in the trial's life the signal came (the signal tests of whole processes are
in test_cli.py)."""

import os
import signal
import subprocess
import sys

import optuna
import pytest
from conftest import write_study
from optuna.trial import TrialState

from tuner.config.loading import load_config
from tuner.stopping import STOP_REQUESTED, request_stop, sigint_blocked
from tuner.tuning.runner import tune


@pytest.fixture
def stop_request():
    """Clears this process's stop request after the test."""
    yield
    STOP_REQUESTED.clear()


class SignalWhileCreatingTrial(optuna.samplers.RandomSampler):
    """A sampler during whose work on trial `number` the stop signal arrives: after Optuna has
    stored the new trial as RUNNING, before the objective starts."""

    def __init__(self, number: int) -> None:
        super().__init__(seed=0)
        self.number = number

    def before_trial(self, study, trial):
        if trial.number == self.number:
            request_stop(signal.SIGTERM, None)
        super().before_trial(study, trial)


def test_a_stop_while_a_trial_is_created_fails_that_trial_and_ends_the_run(tmp_path, monkeypatch, stop_request):
    config = load_config(write_study(tmp_path, epochs=2))
    monkeypatch.setattr("tuner.tuning.runner.create_sampler", lambda config, offset: SignalWhileCreatingTrial(1))
    result = tune(config, f"sqlite:///{tmp_path / 'small.db'}", progress=False)
    states = [trial.state for trial in result.study.trials]
    assert result.interrupted
    assert states[0] in (TrialState.COMPLETE, TrialState.PRUNED) and states[1:] == [TrialState.FAIL]


def test_a_second_stop_signal_stops_at_once(stop_request):
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        request_stop(signal.SIGTERM, None)
        with pytest.raises(KeyboardInterrupt):
            request_stop(signal.SIGTERM, None)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # a third is ignored
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


BLOCKED_EXIT_CODE = "import signal, sys; sys.exit(signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, []))"


def test_workers_start_with_ctrl_c_blocked_and_a_ctrl_c_meanwhile_is_not_lost():
    """Workers are started inside `sigint_blocked`: they inherit SIGINT blocked, and a Ctrl-C that
    reaches the parent while it starts them is handled once the block ends, not dropped."""
    seen = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: seen.append(signum))
    try:
        with sigint_blocked():
            child = subprocess.run([sys.executable, "-c", BLOCKED_EXIT_CODE], check=False)
            os.kill(os.getpid(), signal.SIGINT)
        signal.pthread_sigmask(signal.SIG_BLOCK, [])  # a call into the interpreter: pending handlers run
    finally:
        signal.signal(signal.SIGINT, previous)
    assert child.returncode == 1  # SIGINT blocked in the child
    assert seen == [signal.SIGINT]
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, [])  # the mask is restored
