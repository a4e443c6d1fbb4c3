"""The One Euro filter (Casiez et al., CHI 2012): low lag when the hand moves, low jitter when still.

Works on whole arrays at once (all joints, all vertices), one independent filter per element.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["OneEuroFilter"]


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass at `cutoff` Hz for a step of `dt` seconds."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """Adaptive low-pass filter for a stream of same-shaped arrays.

    Args:
        min_cutoff: cut-off (Hz) when the signal is still; lower = steadier but laggier.
        beta: how much the cut-off rises per unit of speed (signal units per second).
        d_cutoff: cut-off (Hz) of the speed estimate itself.
    """

    def __init__(self, min_cutoff: float = 1.0, beta: float = 0.05, d_cutoff: float = 1.0) -> None:
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def reset(self) -> None:
        """Forget the history; the next sample passes through unchanged."""
        self._x = self._dx = self._t = None

    def process(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter one sample.

        Args:
            x: any shape, float; must keep its shape between calls (a new shape restarts the filter).
            t: sample time in seconds, increasing.

        Returns:
            The filtered sample, float32, same shape as x (a new array owned by the caller).
        """
        x = np.asarray(x, dtype=np.float32)
        if self._x is None or self._x.shape != x.shape or self._t is None or t <= self._t:
            # First sample, a new shape, or time going backwards (a new source): start over.
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        self._t = t
        dx = (x - self._x) / dt
        self._dx += _alpha(self.d_cutoff, dt) * (dx - self._dx)
        cutoff = self.min_cutoff + self.beta * np.abs(self._dx)
        self._x += _alpha(cutoff, dt) * (x - self._x)
        return self._x.copy()
