"""Start-up milestones: seconds from the start of main.py to the window, DIR-Net, MediaPipe and the
first processed frame, so a slow start can be seen and measured (`tools/startup_time.py`).

Import this module first in main.py: its import time is the clock's zero.
"""
from __future__ import annotations

import time

__all__ = ["StartupLog", "START", "START_CPU", "STEPS"]

START = time.perf_counter()
START_CPU = time.process_time()

# The steps the window waits for before it shows a processed frame, in the order shown.
STEPS = {"window": "window", "dirnet": "DIR-Net", "mediapipe": "MediaPipe", "source": "source",
         "frame": "first frame"}


class StartupLog:
    """Records when each step of STEPS first completed (seconds since `start`), and the CPU time the
    process had used by the first frame (all threads: more than the wall time where they overlapped,
    and less swayed by other jobs on the machine)."""

    def __init__(self, start: float = START) -> None:
        self.start = start
        self.marks: dict[str, float] = {}
        self.frame_cpu: float | None = None

    def mark(self, step: str) -> bool:
        """Record `step` as done now; False (and nothing changes) if it was already recorded."""
        if step not in STEPS:
            raise ValueError(f"unknown start-up step {step!r}, known: {list(STEPS)}")
        if step in self.marks:
            return False
        self.marks[step] = time.perf_counter() - self.start
        if step == "frame":
            self.frame_cpu = time.process_time() - START_CPU
        return True

    @property
    def done(self) -> int:
        return len(self.marks)

    def pending(self) -> list[str]:
        """Names of the steps not done yet, in STEPS order."""
        return [STEPS[s] for s in STEPS if s not in self.marks]

    def summary(self) -> str:
        """e.g. "window 0.7 s · DIR-Net 3.9 s · MediaPipe 2.4 s · source 3.1 s · first frame 4.4 s ·
        CPU 5.1 s"."""
        cpu = [f"CPU {self.frame_cpu:.1f} s"] if self.frame_cpu is not None else []
        return " · ".join([f"{STEPS[s]} {self.marks[s]:.1f} s" for s in STEPS if s in self.marks] + cpu)
