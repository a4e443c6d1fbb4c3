"""MediaPipe Hands (0.10.21, `solutions.hands`) as the hand detector and as a comparison tracker.

MediaPipe labels handedness assuming a mirrored (selfie) image. On an un-mirrored camera frame its
"Left" is the person's right hand, so the label is swapped unless the caller says the frame is
mirrored. Our "left"/"right" is the hand as it looks in the frame we crop, which is what the
Estimator needs to decide whether to mirror the crop.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dirnet.crop import DEFAULT_MARGIN, Box, box_from_points

__all__ = ["Detection", "HandDetector"]

_SWAP = {"left": "right", "right": "left"}


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
        import mediapipe as mp  # lazily: slow to import, and only the app needs it

        self._hands = mp.solutions.hands.Hands(
            static_image_mode=static, max_num_hands=max_hands, model_complexity=model_complexity,
            min_detection_confidence=min_confidence, min_tracking_confidence=0.5)

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
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ValueError(f"frame must be (H, W, 3) uint8 RGB, got {frame.shape} {frame.dtype}")
        height, width = frame.shape[:2]
        result = self._hands.process(frame)
        if not result.multi_hand_landmarks:
            return []
        detections = []
        for landmarks, handedness in zip(result.multi_hand_landmarks, result.multi_handedness):
            points = np.array([(p.x * width, p.y * height) for p in landmarks.landmark], np.float32)
            label = handedness.classification[0].label.lower()
            detections.append(Detection(
                handedness=label if mirrored else _SWAP[label],
                landmarks=points,
                score=float(handedness.classification[0].score),
                box=box_from_points(points, DEFAULT_MARGIN),
            ))
        return detections

    def close(self) -> None:
        self._hands.close()

    def __enter__(self) -> "HandDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
