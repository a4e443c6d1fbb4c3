"""MediaPipe Hands (dirnet.mediapipe_hands) as the hand detector and as a comparison tracker.

Our "left"/"right" is the hand as it looks in the frame we crop, which is what the Estimator needs
to decide whether to mirror the crop; the wrapper gives that unless the frame is mirrored.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dirnet import DEFAULT_MARGIN, Box, MediaPipeHands, box_from_points

__all__ = ["Detection", "HandDetector"]


@dataclass(frozen=True)
class Detection:
    """One hand MediaPipe found.

    handedness: "left" or "right" as the hand appears in the given frame.
    landmarks: (21, 2) float32 frame px, MediaPipe order.
    score: handedness confidence, 0..1.
    box: square crop box around the landmarks (dirnet.crop's DEFAULT_MARGIN).
    """

    handedness: str
    landmarks: np.ndarray
    score: float
    box: Box


class HandDetector:
    """Finds up to `max_hands` hands; a context manager that frees MediaPipe's graph on exit.

    Args:
        max_hands: 1 or 2.
        static: True runs palm detection on every call (for occasional detection while our own
            tracker follows the hand); False uses MediaPipe's own tracking (for a per-frame
            comparison overlay).
        model_complexity: 0 lite or 1 full landmark model.
        min_confidence: detection confidence threshold.
    """

    def __init__(self, max_hands: int = 2, static: bool = True, model_complexity: int = 1,
                 min_confidence: float = 0.5) -> None:
        self._hands = MediaPipeHands(static=static, max_hands=max_hands, model_complexity=model_complexity,
                                     min_detection=min_confidence)

    def detect(self, frame: np.ndarray, mirrored: bool = False) -> list[Detection]:
        """Detect hands in one frame.

        Args:
            frame: (H, W, 3) uint8 RGB.
            mirrored: the frame is a mirrored (selfie) view, MediaPipe's own assumption.

        Returns:
            One Detection per hand found (empty list when none), in MediaPipe's order.

        Raises:
            ValueError: if the frame is not (H, W, 3) uint8.
        """
        detections = []
        for hand in self._hands.process(frame, mirrored=mirrored):
            points = hand.joints2d.astype(np.float32)
            detections.append(Detection(handedness=hand.handedness, landmarks=points, score=hand.score,
                                        box=box_from_points(points, DEFAULT_MARGIN)))
        return detections

    def close(self) -> None:
        self._hands.close()

    def __enter__(self) -> "HandDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
