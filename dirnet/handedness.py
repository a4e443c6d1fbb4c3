"""Left or right? MediaPipe Hands' classifier for `--hand auto` (dirnet.mediapipe_hands)."""
from __future__ import annotations

import logging

import numpy as np

from .mediapipe_hands import MediaPipeHands

__all__ = ["HandednessClassifier"]

log = logging.getLogger(__name__)

# Palm detection misses hands in very small images; pad them up to this side first.
_MIN_SIDE = 256


class HandednessClassifier:
    """Callable: RGB crop (H, W, 3) uint8 of an ordinary (unmirrored) image -> "left" | "right".

    When no hand is found the `fallback` is returned.
    """

    def __init__(self, fallback: str = "right", min_score: float = 0.3):
        self._hands = MediaPipeHands(static=True, max_hands=1, model_complexity=1, min_detection=min_score)
        self.fallback = fallback

    def __call__(self, image: np.ndarray) -> str:
        h, w = image.shape[:2]
        pad = (_MIN_SIDE - min(h, w)) // 2 + 1 if max(h, w) < _MIN_SIDE else 0
        hands = self._hands.process(image, pad=pad)
        if not hands:
            log.info("no hand found for --hand auto; assuming %s", self.fallback)
            return self.fallback
        return hands[0].handedness

    def close(self) -> None:
        self._hands.close()
