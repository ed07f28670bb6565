"""How many threads a process trains and fits with: `train.threads`, else the user's own
`$OMP_NUM_THREADS`, else (the default) the cores that other processes leave idle, measured when the
entry point starts and again every second while networks train (`adapt`).

Why measured: OpenMP's threads spin while they wait for each other, so a process with a thread per
core slows several-fold the moment another process takes a core, while on an idle machine a
thread per core trains the larger networks faster (docs/decisions/threads.md). Thread counts are
set by the process entry points (`configure_threads`), or for one library call (`scoped_threads`)."""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

THREAD_POOLS = {"openmp": ("OMP_NUM_THREADS",), "blas": ("MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}  # threadpoolctl's
THREAD_VARIABLES = tuple(name for names in THREAD_POOLS.values() for name in names)  # set by configure_threads
CHECK_SECONDS = 1.0  # how often `adapt` measures the idle cores while networks train
FIRST_CHECK_SECONDS = 0.1  # the entry point's first measurement
TAKEN_SHARE = 0.5  # a core counts as taken when other processes use more than this share of it
PROC_STAT = Path("/proc/stat")
CGROUP_QUOTA = Path("/sys/fs/cgroup/cpu.max")

log = logging.getLogger(__name__)


def usable_cores() -> tuple[list[int], int]:
    """The CPUs this process may run on, and how many of them it may keep busy at once (a
    container's CPU quota may allow fewer than it sees)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    limit = len(cpus)
    try:
        quota, period = CGROUP_QUOTA.read_text().split()
        if quota != "max":
            limit = min(limit, max(1, math.floor(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus, limit


def busy_seconds(cpus: list[int]) -> float | None:
    """CPU seconds spent busy so far on `cpus`, by every process (Linux's /proc/stat); None elsewhere."""
    wanted = {f"cpu{cpu}" for cpu in cpus}
    try:
        lines = PROC_STAT.read_text().splitlines()
    except OSError:
        return None
    ticks = 0
    for fields in map(str.split, lines):
        if fields and fields[0] in wanted:  # cpuN user nice system idle iowait irq softirq steal ...
            values = [int(value) for value in fields[1:9]]
            ticks += sum(values) - values[3] - values[4]
    return ticks / os.sysconf("SC_CLK_TCK")


def idle_threads(limit: int, others: float) -> int:
    """Threads for a process that may use `limit` cores while other processes keep `others` cores busy."""
    return max(1, min(limit, limit - math.ceil(others - TAKEN_SHARE)))


class IdleCores:
    """The cores other processes leave idle: the machine's busy CPU time less this process's own,
    over the time since the last reading."""

    def __init__(self) -> None:
        self.cpus, self.limit = usable_cores()
        self.last = self.reading()
        self.others = 0.0  # cores other processes kept busy over the last interval

    def reading(self) -> tuple[float, float, float] | None:
        busy = busy_seconds(self.cpus)
        own = os.times()
        return None if busy is None else (time.monotonic(), busy, own.user + own.system)

    def threads(self) -> int | None:
        """Threads for the idle cores since the last call; None where the CPU time cannot be read."""
        now, last = self.reading(), self.last
        self.last = now
        if now is None or last is None or now[0] <= last[0]:
            return None
        self.others = max(0.0, (now[1] - last[1]) - (now[2] - last[2])) / (now[0] - last[0])
        return idle_threads(self.limit, self.others)

    def log(self, count: int) -> None:
        log.info("threads: %d, as other processes keep %.1f of %d cores busy", count, self.others, self.limit)


class _Automatic:
    """The process's automatic thread setting: its measurement and when it is next due."""

    def __init__(self, pools: set[str]) -> None:
        self.idle = IdleCores()
        self.pools = pools  # the pools whose threads follow torch's (the user set none of their variables)
        self.due = time.monotonic() + CHECK_SECONDS


_automatic: _Automatic | None = None  # set by configure_threads(0) without $OMP_NUM_THREADS
_written: dict[str, str] = {}  # the thread variables configure_threads wrote, which are not the user's


def user_variables() -> set[str]:
    """The thread variables the user set (not those `configure_threads` wrote)."""
    return {name for name in THREAD_VARIABLES if name in os.environ and os.environ[name] != _written.get(name)}


def configure_threads(threads: int) -> int:
    """Set this process's threads for torch and for the BLAS and OpenMP pools of the members
    (scikit-learn, statsmodels), and return the count. `train.threads` or `$OMP_NUM_THREADS` fix
    it; otherwise it follows the idle cores (`adapt`). For process entry points (the CLI, a
    worker), never for library code: it changes the whole process."""
    global _automatic
    users = set() if threads else user_variables()  # theirs win
    pools = {api for api, names in THREAD_POOLS.items() if not users & set(names)}
    fixed = thread_count(threads)
    if not fixed and _automatic is not None and _automatic.pools == pools:  # following the idle cores already
        count = torch.get_num_threads()  # (the CLI's call, then the API's inside it): not measured again
    else:
        _automatic = None if fixed else _Automatic(pools)
        count = fixed or first_count(_automatic)
    for name in set(THREAD_VARIABLES) - users:  # for the pools that load later (scikit-learn's OpenMP runtime)
        os.environ[name] = _written[name] = str(count)
    set_threads(count, pools)
    return count


def first_count(automatic: _Automatic) -> int:
    """The entry point's first measurement of the idle cores (one thread where it cannot measure)."""
    if automatic.idle.last is None:
        log.info("threads: 1, as the idle cores cannot be measured here (no /proc/stat)")
        return 1
    time.sleep(FIRST_CHECK_SECONDS)
    count = automatic.idle.threads() or 1
    automatic.idle.log(count)
    return count


def set_threads(count: int, pools: set[str]) -> None:
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(count)
    for api in pools:  # the pools loaded already (numpy's BLAS)
        threadpool_limits(limits=count, user_api=api)


def adapt() -> None:
    """With the automatic setting, at most once a second: follow the idle cores. The training loop
    calls it every batch; it does nothing otherwise."""
    automatic = _automatic
    if automatic is None or time.monotonic() < automatic.due:
        return
    automatic.due = time.monotonic() + CHECK_SECONDS
    count = automatic.idle.threads()
    if count is not None and count != torch.get_num_threads():
        automatic.idle.log(count)
        set_threads(count, automatic.pools)


@contextmanager
def scoped_threads(threads: int) -> Iterator[int]:
    """`configure_threads` for the block only (library calls: the Python API): torch's threads, the
    pools loaded already, the variables read by pools that load later and the automatic setting
    are restored after it."""
    from threadpoolctl import threadpool_limits

    global _automatic, _written
    variables = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    torch_threads, automatic, written = torch.get_num_threads(), _automatic, dict(_written)
    pools = threadpool_limits(limits=None)  # records the loaded pools' limits, changes nothing
    try:
        yield configure_threads(threads)
    finally:
        _automatic, _written = automatic, written
        pools.restore_original_limits()
        torch.set_num_threads(torch_threads)
        for name, value in variables.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def thread_count(threads: int) -> int:
    """The fixed thread count: `train.threads`, else the user's own `$OMP_NUM_THREADS`; 0 where
    neither is set (the automatic setting)."""
    if threads:
        return threads
    user = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip() if "OMP_NUM_THREADS" in user_variables() else ""
    return int(user) if user.isdigit() and int(user) > 0 else 0


@contextmanager
def child_environment() -> Iterator[None]:
    """Inside the block, the environment holds only the user's thread variables, so a process
    started there (a spawned worker) chooses its own threads as an entry point does."""
    users = user_variables()
    ours = {name: os.environ.pop(name) for name in THREAD_VARIABLES if name in os.environ and name not in users}
    try:
        yield
    finally:
        os.environ.update(ours)
