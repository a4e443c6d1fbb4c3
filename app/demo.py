"""The built-in demo source: dirnet's DemoHand paced as a video file, so a fresh machine without a
camera shows the whole pipeline working."""
from __future__ import annotations

import numpy as np

from dirnet import DemoHand

__all__ = ["DemoSource"]


class DemoSource(DemoHand):
    """DemoHand frames one after another at `fps` (an app source: `read`, `position`, `close`).

    Args:
        width, height: frame size in px.
        fps: nominal frame rate; frame k shows time k / fps, so the animation is the same at any
            processing speed.
        seed: background texture seed.
    """

    live = False
    name = "demo"
    skipped = 0

    def __init__(self, width: int = 960, height: int = 540, fps: float = 25.0, seed: int = 3) -> None:
        super().__init__(width, height, seed)
        self.fps = fps
        self._index = 0

    def read(self) -> np.ndarray:
        """The next frame (never None: the demo loops forever)."""
        frame = self.render(self._index / self.fps)
        self._index += 1
        return frame

    @property
    def position(self) -> int:
        """The number of the frame read last (-1 before the first)."""
        return self._index - 1

    def close(self) -> None:
        pass
