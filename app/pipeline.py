"""One frame in, every hand's pose out: detect or track, DIR-Net on the hand boxes, smooth, recognise.

Qt-free, so the GUI's worker thread, the headless runner, the benchmark and plain pytest all run
the same code. Not thread-safe: one thread owns a Pipeline; others change `settings` by assigning
a whole new PipelineSettings between frames.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable

import numpy as np

from dirnet import Box, HandPose

from .detector import Detection, HandDetector
from .gestures import GestureCapture, GestureMatch, GestureMatcher, pose_features
from .smoothing import OneEuroFilter
from .tracker import HandTracker

__all__ = ["PipelineSettings", "HandResult", "FrameResult", "Pipeline", "MEDIAPIPE_EVERY"]

# MediaPipe's landmarks for the comparison overlay come from one pass every this many frames
# (a detection's pass counts): each pass costs as much as a detection, 3-4 times a tracked frame.
MEDIAPIPE_EVERY = 3


@dataclass(frozen=True)
class PipelineSettings:
    """Live-tunable choices; None thresholds mean the Estimator's defaults."""

    exit_mode: str = "gate"
    tau_gate: float | None = None
    tau_var: float | None = None
    max_loops: int | None = None
    smoothing: bool = True
    min_cutoff: float = 1.0
    beta: float = 0.05
    show_mediapipe: bool = False
    gesture_threshold: float = 0.6
    max_hands: int = 2


@dataclass
class HandResult:
    """One tracked hand in one frame.

    track_id: stable while the hand is tracked.
    handedness: "left"/"right" as the hand appears in the frame.
    box: the crop region (frame px) DIR-Net saw.
    pose: DIR-Net's raw result, in frame px (its trace holds every loop).
    joints2d: (21, 2) float32 frame px (smoothed when smoothing is on).
    var2d: (21, 2) float32 frame px^2.
    joints3d: (21, 3) float32 mm, camera axes, wrist-relative (smoothed).
    vertices: (V, 3) float32 mm, same frame (smoothed).
    gesture: best gesture above threshold, or None; gesture_changed: it differs from last frame.
    """

    track_id: int
    handedness: str
    box: Box
    pose: HandPose
    joints2d: np.ndarray
    var2d: np.ndarray
    joints3d: np.ndarray
    vertices: np.ndarray
    gesture: GestureMatch | None = None
    gesture_changed: bool = False


@dataclass
class FrameResult:
    """Everything the UI, the recorder and the status line need about one processed frame.

    index: source frame number; t: capture time, seconds.
    frame: (H, W, 3) uint8 RGB as captured (never mirrored).
    mediapipe: MediaPipe's own (21, 2) frame-px landmarks per hand from its latest pass (at most
        MEDIAPIPE_EVERY - 1 frames old; empty when it found none), or None when the comparison is off.
    timings: milliseconds per stage ("detect", "dirnet", "post", "mediapipe", "total").
    detected: the detector ran on this frame.
    captured: (name, (N, 21, 3) mm samples) when a gesture capture finished on this frame.
    message: a problem worth showing the user (e.g. DIR-Net failed), else None.
    """

    index: int
    t: float
    frame: np.ndarray
    hands: list[HandResult] = field(default_factory=list)
    mediapipe: list[np.ndarray] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    detected: bool = False
    captured: tuple[str, np.ndarray] | None = None
    message: str | None = None

    @property
    def loops(self) -> list[int]:
        return [h.pose.loops for h in self.hands]

    @property
    def gflops(self) -> float:
        return float(sum(h.pose.gflops for h in self.hands))


class _Smoother:
    """The One Euro filters of one track (2D joints, 3D joints, mesh)."""

    def __init__(self, min_cutoff: float, beta: float) -> None:
        self.filters = [OneEuroFilter(min_cutoff, beta) for _ in range(3)]

    def process(self, t: float, *arrays: np.ndarray, min_cutoff: float, beta: float) -> list[np.ndarray]:
        for f in self.filters:
            f.min_cutoff, f.beta = min_cutoff, beta
        return [f.process(a, t) for f, a in zip(self.filters, arrays)]


class Pipeline:
    """Detect/track -> crop -> DIR-Net -> frame px -> smoothing -> gestures, for one stream.

    Args:
        estimator: a dirnet Estimator, or None to run detection only (e.g. the weights failed to
            load).
        settings: initial settings.
        matcher: gesture prototypes; None recognises nothing.
        detector_factory: builds the detector (static mode); it also gives the comparison overlay.
        detector: a static-mode detector started beforehand (MediaPipe takes a second to start:
            the app starts it while DIR-Net loads); None builds one on the first frame.
    """

    def __init__(self, estimator, settings: PipelineSettings = PipelineSettings(),
                 matcher: GestureMatcher | None = None,
                 detector_factory: Callable[..., HandDetector] = HandDetector,
                 detector: HandDetector | None = None) -> None:
        self.estimator = estimator
        self.settings = settings
        self.matcher = matcher or GestureMatcher()
        self.tracker = HandTracker(max_hands=settings.max_hands)
        self._detector_factory = detector_factory
        self._detector = detector
        self._mediapipe: list[np.ndarray] = []  # the overlay's landmarks, from MediaPipe's latest pass
        self._mediapipe_age = MEDIAPIPE_EVERY  # frames since that pass
        self._smoothers: dict[int, _Smoother] = {}
        self._gestures: dict[int, str | None] = {}
        self._capture: GestureCapture | None = None

    def reset(self) -> None:
        """Forget every track, filter and gesture state (call when the source changes)."""
        self.tracker.reset()
        self._mediapipe, self._mediapipe_age = [], MEDIAPIPE_EVERY
        self._smoothers.clear()
        self._gestures.clear()

    def effective_settings(self) -> dict:
        """The settings as a JSON-able dict, with the exit thresholds the Estimator really uses
        (its defaults filled in for the None ones)."""
        values = asdict(self.settings)
        if self.estimator is not None:
            s = self.settings
            policy = self.estimator.policy(s.exit_mode, s.tau_var, s.tau_gate, s.max_loops)
            values.update(exit_mode=policy.exit_mode, tau_var=policy.tau_var, tau_gate=policy.tau_gate,
                          max_loops=policy.max_loops)
        return values

    def start_capture(self, name: str, frames: int = 10) -> None:
        """Record the next `frames` poses of the first tracked hand as gesture `name`."""
        self._capture = GestureCapture(name, frames)

    def process(self, frame: np.ndarray, t: float, index: int) -> FrameResult:
        """Run the whole pipeline on one frame.

        Args:
            frame: (H, W, 3) uint8 RGB, un-mirrored camera image.
            t: capture time in seconds (drives the One Euro filter).
            index: frame number, passed through.

        Returns:
            The FrameResult; hands is empty when nothing is tracked. Detector and DIR-Net errors
            are reported in `message`, never raised, so a live stream keeps going.
        """
        start = time.perf_counter()
        s = self.settings
        result = FrameResult(index=index, t=t, frame=frame)
        self.tracker.max_hands = s.max_hands
        try:
            detections = None
            if self.tracker.needs_detection():
                tic = time.perf_counter()
                detections = self._detect(frame)
                self.tracker.add_detections(detections)
                result.detected = True
                result.timings["detect"] = _ms(tic)
            if self.estimator is not None and self.tracker.tracks:
                self._estimate(frame, t, result)
            self._overlay_mediapipe(frame, detections, result)
        except Exception as exc:  # noqa: BLE001 - a live stream must survive one bad frame; say what happened
            result.message = f"frame {index}: {type(exc).__name__}: {exc}"
        self.tracker.step()
        result.timings["total"] = _ms(start)
        return result

    def _detect(self, frame: np.ndarray) -> list[Detection]:
        if self._detector is None:
            self._detector = self._detector_factory(max_hands=2, static=True)
        return self._detector.detect(frame)

    def _overlay_mediapipe(self, frame: np.ndarray, detections: list[Detection] | None,
                           result: FrameResult) -> None:
        """MediaPipe's landmarks for the comparison overlay, without a second MediaPipe graph: a
        detection's own, else a pass of the detector every MEDIAPIPE_EVERY frames, the latest
        shown in between. These passes only draw: they never move our tracks."""
        if not self.settings.show_mediapipe:
            self._mediapipe, self._mediapipe_age = [], MEDIAPIPE_EVERY
            return
        if detections is None and self._mediapipe_age + 1 >= MEDIAPIPE_EVERY:
            tic = time.perf_counter()
            detections = self._detect(frame)
            result.timings["mediapipe"] = _ms(tic)
        if detections is None:
            self._mediapipe_age += 1
        else:
            self._mediapipe, self._mediapipe_age = [d.landmarks for d in detections], 0
        result.mediapipe = self._mediapipe

    def _estimate(self, frame: np.ndarray, t: float, result: FrameResult) -> None:
        s = self.settings
        tracks = list(self.tracker.tracks)
        tic = time.perf_counter()
        poses = self.estimator.estimate(
            frame, [track.handedness for track in tracks], boxes=[track.box for track in tracks],
            exit_mode=s.exit_mode, tau_var=s.tau_var, tau_gate=s.tau_gate, max_loops=s.max_loops)
        result.timings["dirnet"] = _ms(tic)
        tic = time.perf_counter()
        height, width = frame.shape[:2]
        for track, pose in zip(tracks, poses):
            hand = HandResult(track.id, track.handedness, track.box, pose, pose.joints2d, pose.var2d,
                              pose.joints3d, pose.vertices)
            self.tracker.update(track, pose.joints2d, pose.var2d, (width, height))
            if s.smoothing:
                smoother = self._smoothers.setdefault(track.id, _Smoother(s.min_cutoff, s.beta))
                hand.joints2d, hand.joints3d, hand.vertices = smoother.process(
                    t, pose.joints2d, pose.joints3d, pose.vertices, min_cutoff=s.min_cutoff, beta=s.beta)
            self._recognise(hand)
            result.hands.append(hand)
        if self._capture is not None and result.hands and self._capture.add(result.hands[0].joints3d):
            result.captured = (self._capture.name, self._capture.samples)
            self._capture = None
        live = {track.id for track in self.tracker.tracks}
        for key in set(self._smoothers) - live:
            del self._smoothers[key]
        for key in set(self._gestures) - live - {h.track_id for h in result.hands}:
            del self._gestures[key]
        result.timings["post"] = _ms(tic)

    def _recognise(self, hand: HandResult) -> None:
        hand.gesture = self.matcher.match(pose_features(hand.joints3d), self.settings.gesture_threshold)
        name = hand.gesture.name if hand.gesture else None
        hand.gesture_changed = self._gestures.get(hand.track_id) != name
        self._gestures[hand.track_id] = name

    def close(self) -> None:
        """Free MediaPipe's graph."""
        if self._detector is not None:
            self._detector.close()
        self._detector = None


def _ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000.0
