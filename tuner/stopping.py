"""Stopping a tuning run on Ctrl-C or SIGTERM without leaving a trial half-written.

The first signal only asks the run to stop: training checks between batches (`raise_if_stop_requested`)
and raises KeyboardInterrupt there, inside the trial, where Optuna records the trial as FAIL, so no
database write or library lock is ever cut in the middle. A second signal stops at once."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import typing
from collections.abc import Iterator

STOP_REQUESTED = threading.Event()  # set by the first SIGINT/SIGTERM of this process
TRIAL_STOP_REQUESTED = threading.Event()  # set by a standing worker whose job was cancelled with --now


class TrialStopped(Exception):
    """The running trial's job was cancelled with `tuner cancel --now`: the trial fails, the worker goes on."""
FORCE_HINT = b"Stopping after the current batch; press Ctrl-C again to stop at once.\n"


def request_stop(signum: int, frame: object) -> None:
    """SIGINT/SIGTERM handler: the first signal sets STOP_REQUESTED; a repeat raises
    KeyboardInterrupt where the process is, and further signals are ignored."""
    if STOP_REQUESTED.is_set():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise KeyboardInterrupt
    STOP_REQUESTED.set()
    if signal.getsignal(signal.SIGINT) is request_stop:  # the terminal's process, not a worker
        os.write(sys.stderr.fileno(), FORCE_HINT)  # print() is not safe inside a signal handler


def handle_stop_signals(sigint: bool = True) -> None:
    """Install `request_stop` for SIGTERM (`kill`, `docker stop`) and, with `sigint`, for Ctrl-C.

    Worker processes pass `sigint=False` (and start with SIGINT blocked, `sigint_blocked`): Ctrl-C
    reaches the terminal's whole process group, and a worker should stop once, on its parent's
    SIGTERM, not twice (which would force it)."""
    signal.signal(signal.SIGINT, request_stop if sigint else signal.SIG_IGN)
    signal.signal(signal.SIGTERM, request_stop)
    sys.unraisablehook = quiet_swallowed_interrupt


@contextlib.contextmanager
def sigint_blocked() -> Iterator[None]:
    """SIGINT blocked in this thread inside the block, so that worker processes started in it never
    see Ctrl-C, from their first instruction (a blocked signal stays blocked across fork and exec)
    and a Ctrl-C cannot break into their imports. A Ctrl-C that reaches this process in the block
    is held, not lost: it is handled once the block ends (ignoring SIGINT instead would drop it)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def raise_if_stop_requested() -> None:
    """Raise KeyboardInterrupt once a stop was requested, or TrialStopped once the trial's job was
    cancelled with --now (called between training batches)."""
    if STOP_REQUESTED.is_set():
        raise KeyboardInterrupt
    if TRIAL_STOP_REQUESTED.is_set():
        raise TrialStopped("its job was cancelled with `tuner cancel --now`")


def quiet_swallowed_interrupt(unraisable: typing.Any) -> None:
    """A forced stop's KeyboardInterrupt raised inside a garbage-collector callback cannot
    propagate, and Python would print it as a traceback; the stop is honoured through
    STOP_REQUESTED instead, so it is dropped. Anything else goes to the default hook."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and STOP_REQUESTED.is_set():
        return
    sys.__unraisablehook__(unraisable)
