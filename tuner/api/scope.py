"""A library call leaves the process as it found it: inside `scoped`, the threads are set to
`train.threads` (`networks.threads.scoped_threads`), Optuna logs warnings only, and Ctrl-C stops a
tuning run after the current batch, as in the CLI; all of it is restored afterwards. Random state
is never touched: training seeds its own generators (`networks.training.seeded`)."""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def scoped(threads: int, stop_signals: bool = False) -> Iterator[None]:
    """Run the block with `train.threads = threads`; `stop_signals`: Ctrl-C and SIGTERM ask a tuning
    run to stop after its current batch (in the main thread; elsewhere signals are left as they are)."""
    from tuner.networks.threads import scoped_threads

    optuna_logger = logging.getLogger("optuna")
    level = optuna_logger.level
    with contextlib.ExitStack() as stack:
        stack.enter_context(scoped_threads(threads))
        optuna_logger.setLevel(max(level, logging.WARNING))
        stack.callback(optuna_logger.setLevel, level)
        if stop_signals and threading.current_thread() is threading.main_thread():
            stack.enter_context(stop_signals_handled())
        yield


@contextlib.contextmanager
def stop_signals_handled() -> Iterator[None]:
    """`stopping.handle_stop_signals` inside the block; the caller's handlers, unraisable hook and
    a cleared stop request after it."""
    from tuner.stopping import STOP_REQUESTED, handle_stop_signals

    handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    hook = sys.unraisablehook
    handle_stop_signals()
    try:
        yield
    finally:
        for number, handler in handlers.items():
            signal.signal(number, handler)
        sys.unraisablehook = hook
        STOP_REQUESTED.clear()
