"""Where training runs: `train.device` resolved against the machine, the GPUs `tune --workers`
spreads its workers over, and bf16 autocast (`train.precision`)."""

from __future__ import annotations

import contextlib

import torch

from tuner.errors import ConfigError


def cuda_count() -> int:
    """CUDA devices this process sees (after CUDA_VISIBLE_DEVICES)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(name: str, precision: str = "32", count: int | None = None) -> torch.device:
    """The torch device `train.device = name` means here: `auto` takes CUDA when present, else
    the CPU. An error naming the key when the device is not on this machine, or bf16 is asked
    for off CUDA. `count`: CUDA devices (default: this machine's)."""
    count = cuda_count() if count is None else count
    if name == "auto":
        device = torch.device("cuda" if count else "cpu")
    elif name.startswith("cuda"):
        index = int(name.partition(":")[2] or 0)
        if not count:
            raise ConfigError(f'train.device = "{name}": this machine has no CUDA device; use "auto" or "cpu"')
        if index >= count:
            raise ConfigError(f'train.device = "{name}": no such device; this machine has {count} CUDA device(s), '
                              f"cuda:0 to cuda:{count - 1}")
        device = torch.device(name)
    elif name == "mps" and not torch.backends.mps.is_available():
        raise ConfigError('train.device = "mps": this machine has no Apple GPU (MPS); use "auto" or "cpu"')
    else:
        device = torch.device(name)
    if precision == "bf16" and device.type != "cuda":
        raise ConfigError(f'train.precision = "bf16": bf16 autocast is used on CUDA only, and this run trains on '
                          f'{device.type}; use "32"')
    return device


def worker_devices(workers: int, name: str, listed: tuple[int, ...], count: int | None = None) -> list[str | None]:
    """The GPU each of `workers` worker processes gets, round-robin over `listed` (default: every
    GPU), as the CUDA_VISIBLE_DEVICES value it runs with; None each where training is not on CUDA."""
    count = cuda_count() if count is None else count
    if not count or name in ("cpu", "mps"):
        if listed:
            raise ConfigError(f"--devices {','.join(map(str, listed))}: this machine has no CUDA device")
        return [None] * workers
    missing = [index for index in listed if index >= count]
    if missing:
        raise ConfigError(f"--devices {','.join(map(str, listed))}: no GPU {missing[0]}; this machine has {count} "
                          f"CUDA device(s), 0 to {count - 1}")
    if name.startswith("cuda:"):
        listed = (int(name.partition(":")[2]),)
    pool = listed or tuple(range(count))
    return [str(pool[worker % len(pool)]) for worker in range(workers)]


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA for `precision = "bf16"`; else nothing."""
    if precision == "bf16" and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def release(device: torch.device) -> None:
    """Hand a finished trial's cached device memory back, so memory does not creep trial to trial."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
