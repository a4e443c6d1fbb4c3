"""MediaPipe Hands (0.10.21, legacy `solutions.hands`) behind one class: the app's detector, the
teacher, the handedness classifier and the benchmarks all build it here.

MediaPipe labels handedness as if every image were a mirrored selfie, so on an ordinary
(unmirrored) image its "Left" is the person's right hand. `MediaPipeHands.process` returns the
hand as it is in the image ("right" for a right hand) unless told the image is mirrored.
mediapipe itself is imported on first use: it is slow to import and most of dirnet never needs it.
"""
from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np

__all__ = ["MediaPipeHand", "MediaPipeHands", "quiet_native_stderr"]

_SWAP = {"left": "right", "right": "left"}


@dataclass(frozen=True)
class MediaPipeHand:
    """One hand MediaPipe found.

    joints2d: (21, 2) float64 image px, MediaPipe joint order.
    joints3d: (21, 3) float64 mm, MediaPipe's world landmarks with the wrist at 0, camera axes.
    handedness: "left" or "right" (see the module docstring).
    score: handedness confidence in [0, 1].
    """

    joints2d: np.ndarray
    joints3d: np.ndarray
    handedness: str
    score: float


class MediaPipeHands:
    """MediaPipe Hands; a context manager that frees its graph on exit.

    Args:
        static: palm detection on every image (photos, occasional detection); False tracks from
            frame to frame (video), as MediaPipe's static_image_mode=False.
        max_hands: most hands per image.
        model_complexity: 0 lite or 1 full landmark model.
        min_detection: palm detection confidence threshold.
        min_tracking: landmark presence threshold below which tracking falls back to detection.
    """

    def __init__(self, static: bool = True, max_hands: int = 2, model_complexity: int = 1,
                 min_detection: float = 0.5, min_tracking: float = 0.5) -> None:
        self._hands = None
        try:
            with _signals_held():
                import mediapipe as mp  # lazy: see the module docstring

                self._hands = mp.solutions.hands.Hands(
                    static_image_mode=static, max_num_hands=max_hands, model_complexity=model_complexity,
                    min_detection_confidence=min_detection, min_tracking_confidence=min_tracking)
        except KeyboardInterrupt:
            if self._hands is not None:  # held until the graph was up: stop it before passing it on
                self._hands.close()
            raise

    def process(self, image: np.ndarray, mirrored: bool = False, pad: int = 0) -> list[MediaPipeHand]:
        """The hands in one image.

        Args:
            image: (H, W, 3) uint8 RGB.
            mirrored: the image is a mirrored (selfie) view, MediaPipe's own assumption.
            pad: add a black border this many px wide first (palm detection misses hands that fill
                the image); joints2d are still in `image`'s px.
        Returns:
            One MediaPipeHand per hand found, in MediaPipe's order; [] when there is none.
        Raises:
            ValueError: the image is not (H, W, 3) uint8.
        """
        if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 \
                or image.dtype != np.uint8:
            raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {getattr(image, 'shape', type(image))} "
                             f"{getattr(image, 'dtype', '')}")
        if pad:
            image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=(0, 0, 0))
        result = self._hands.process(np.ascontiguousarray(image))
        if not result.multi_hand_landmarks:
            return []
        height, width = image.shape[:2]
        hands = []
        for landmarks, world, handedness in zip(result.multi_hand_landmarks,
                                                result.multi_hand_world_landmarks,
                                                result.multi_handedness):
            uv = np.array([[p.x * width, p.y * height] for p in landmarks.landmark]) - pad
            xyz = np.array([[p.x, p.y, p.z] for p in world.landmark]) * 1000.0
            category = handedness.classification[0]
            label = category.label.lower()
            hands.append(MediaPipeHand(uv, xyz - xyz[0], label if mirrored else _SWAP[label],
                                       float(category.score)))
        return hands

    def close(self) -> None:
        self._hands.close()

    def __enter__(self) -> "MediaPipeHands":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold Ctrl+C and SIGTERM until the block ends, then hand them to their Python handlers.

    MediaPipe's native modules turn a KeyboardInterrupt raised while they initialise into
    "ImportError: initialization failed", so an interrupted CLI would fail with a traceback
    instead of cleaning up and exiting 130/143. Only Python-level handlers are held (the default
    KeyboardInterrupt one, a CLI's own); ignored or default-action signals are left alone.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers can only be set, and only run, in the main thread
        return
    held: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    python_handled = {sig: h for sig, h in previous.items() if callable(h)}
    for sig in python_handled:
        signal.signal(sig, lambda signum, _frame: held.append(signum))
    try:
        yield
    finally:
        for sig, handler in python_handled.items():
            signal.signal(sig, handler)
    for signum in held[:1]:  # the first one decides, as it would have without holding
        python_handled[signum](signum, None)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Send C-level stderr (MediaPipe/TFLite/FFmpeg log lines) to /dev/null; Python's stays."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    python_stderr = sys.stderr
    sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(saved), "wb", buffering=0),
                                  write_through=True)
    try:
        yield
    finally:
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(saved, 2)
        os.close(saved)
