"""Interleaved timing: what the profiler, the int8 calibration and the feedback study measure with."""
from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np

__all__ = ["interleaved_medians"]


def interleaved_medians(fns: Sequence[Callable[[], object]], reps: int = 150, warmup: int = 15,
                        clock: Callable[[], float] = time.perf_counter) -> list[float]:
    """Median ms of each callable, calling them in turn `reps` times (so that load from other
    processes hits them alike).

    clock: wall-clock by default; `time.thread_time` counts only this thread's CPU time, which
    other processes' load hardly changes (one-thread ONNX Runtime runs in the calling thread).
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for fn, out in zip(fns, times):
            start = clock()
            fn()
            out.append(clock() - start)
    return [round(1e3 * float(np.median(t)), 3) for t in times]
