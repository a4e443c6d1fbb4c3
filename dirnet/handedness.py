"""Left or right? MediaPipe Hands' classifier for `--hand auto`, with its mirrored-input label fixed."""
from __future__ import annotations

import logging

import cv2
import numpy as np

__all__ = ["HandednessClassifier"]

log = logging.getLogger(__name__)

# Palm detection misses hands in very small images; pad them up to this side first.
_MIN_SIDE = 256


class HandednessClassifier:
    """Callable: RGB crop (H, W, 3) uint8 -> "left" | "right".

    MediaPipe labels hands as if the image were a mirrored selfie, so on ordinary (unmirrored)
    images its "Left" is the person's right hand: the label is swapped here. When no hand is found
    the `fallback` is returned.
    """

    def __init__(self, fallback: str = "right", min_score: float = 0.3):
        import mediapipe as mp  # lazy: only --hand auto needs it

        self._hands = mp.solutions.hands.Hands(static_image_mode=True, max_num_hands=1,
                                               model_complexity=1, min_detection_confidence=min_score)
        self.fallback = fallback

    def __call__(self, image: np.ndarray) -> str:
        h, w = image.shape[:2]
        if max(h, w) < _MIN_SIDE:
            pad = (_MIN_SIDE - min(h, w)) // 2 + 1
            image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT)
        result = self._hands.process(np.ascontiguousarray(image))
        if not result.multi_handedness:
            log.info("no hand found for --hand auto; assuming %s", self.fallback)
            return self.fallback
        label = result.multi_handedness[0].classification[0].label
        return "right" if label == "Left" else "left"

    def close(self) -> None:
        self._hands.close()
