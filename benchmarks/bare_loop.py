"""A bare PyTorch training loop for a fixed time, run as its own process by figure 5 to measure
what the machine itself allows: `python bare_loop.py SECONDS THREADS` prints the training steps
per second of a demo-sized LSTM (64 units × 2 layers, batch 32, window 28) on THREADS torch
threads, after a short untimed warm-up."""

from __future__ import annotations

import sys
import time

import torch
from torch import nn

WARM_UP_STEPS = 20


def steps_per_second(seconds: float, threads: int) -> float:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    lstm, head = nn.LSTM(7, 64, 2, batch_first=True), nn.Linear(64, 1)
    optimizer = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3)
    inputs, targets = torch.randn(32, 28, 7), torch.randn(32, 1)

    def step() -> None:
        optimizer.zero_grad()
        (head(lstm(inputs)[0][:, -1]) - targets).abs().mean().backward()
        optimizer.step()

    for _ in range(WARM_UP_STEPS):
        step()
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        step()
        steps += 1
    return steps / (time.perf_counter() - started)


if __name__ == "__main__":
    print(steps_per_second(float(sys.argv[1]), int(sys.argv[2])))
