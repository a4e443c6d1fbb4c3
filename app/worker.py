"""InferenceWorker: the thread that runs the Pipeline on the newest frame only.

Follows Qt's mandelbrot example: `submit()` stores the newest frame under a mutex and wakes the
thread; frames that arrive while one is being processed replace each other, so the UI always sees
the most recent hand, never a backlog. Everything that changes the pipeline (settings, source
reset, gesture capture, recording) is queued as a command and run in this thread between frames,
so the Pipeline itself never needs a lock. The recorder lives here too: encoding never touches the
UI thread. While recording, every submitted frame is also queued for raw.mp4 (the recording keeps
all of them, not just the processed ones) and written before the next frame is processed.

Start-up runs its slow parts side by side: MediaPipe starts in a helper thread while this one
loads DIR-Net (and the capture thread opens the source), and `loading` says what is under way.
Each Processed owns its image: the worker draws every frame into a new array and never touches
it again, so whatever the UI shows from one result is that result's frame and overlay.
"""
from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PyQt6.QtCore import QMutex, QMutexLocker, QThread, QWaitCondition, pyqtSignal

from .detector import HandDetector
from .drawing import annotate
from .gestures import Gesture, GestureMatcher
from .model import load_estimator
from .personal_weights import same_weights
from .pipeline import FrameResult, Pipeline, PipelineSettings
from .provenance import session_info
from .recording import RecordingError, SessionRecorder

__all__ = ["InferenceWorker", "Processed", "EstimatorInfo"]

_RAW_QUEUE = 90  # captured frames waiting for raw.mp4 (3 s at 30 fps) before new ones are dropped


@dataclass(frozen=True)
class Processed:
    """What the UI gets per frame: the result, the overlay image to show, and timing."""

    result: FrameResult
    image: np.ndarray  # (H, W, 3) uint8 RGB, annotated (mirrored if the view is); never reused
    latency_ms: float  # capture to result
    fps: float  # frames processed per second (recent)


@dataclass(frozen=True)
class EstimatorInfo:
    """What the controls need to know about the loaded model."""

    input_res: int
    exit_mode: str
    tau_var: float
    tau_gate: float
    max_loops: int
    is_trained: bool
    weights: Path | None = None  # the .safetensors loaded; None: the shipped weights (or none)


class InferenceWorker(QThread):
    """Owns the Estimator, the Pipeline and the recorder.

    Signals:
        result_ready(Processed): one per processed frame.
        loading(message): a start-up step began ("loading DIR-Net…").
        estimator_ready(EstimatorInfo): the model is loaded.
        detector_ready(): MediaPipe's detector is up (or failed, which errored says).
        ready(): start-up is over: frames submitted from now on are processed.
        errored(message): something failed; the worker carries on.
        status(message): information for the status bar.
        recording_changed(path): the session folder now recording, or "" when stopped (or failed).
        gesture_captured(name, samples): a capture finished; samples (N, 21, 3) mm.
    """

    result_ready = pyqtSignal(object)
    loading = pyqtSignal(str)
    estimator_ready = pyqtSignal(object)
    detector_ready = pyqtSignal()
    ready = pyqtSignal()
    errored = pyqtSignal(str)
    status = pyqtSignal(str)
    recording_changed = pyqtSignal(str)
    gesture_captured = pyqtSignal(str, object)

    def __init__(self, weights: Path | None, device: str, settings: PipelineSettings,
                 mirror: bool = False, threads: int | None = None, parent=None) -> None:
        super().__init__(parent)
        self._weights, self._device, self._threads = weights, device, threads
        self._mutex = QMutex()
        self._wake = QWaitCondition()
        self._pending: tuple[np.ndarray, float, int] | None = None
        self._commands: list[Callable[[], None]] = []
        self._abort = False
        self._restart = False
        self._settings = settings
        self._mirror = mirror
        self._pipeline: Pipeline | None = None
        self._recorder: SessionRecorder | None = None
        self._raw: list[tuple[np.ndarray, float, int]] = []  # captured frames for raw.mp4
        self._raw_dropped = 0
        self._recording = False  # read by submit() under the mutex
        self.source_spec = ""  # what the window asked to open (a path is stored in session.json)
        self._source_name = ""
        self._source_fps = 30.0
        self._done_times: list[float] = []

    # ---- called from the UI (or capture) thread ------------------------------------------------
    def submit(self, frame: np.ndarray, t: float, index: int) -> None:
        """Offer a frame; it replaces any frame not yet started (latest frame wins)."""
        with QMutexLocker(self._mutex):
            self._pending = (frame, t, index)
            if self._recording:
                if len(self._raw) < _RAW_QUEUE:
                    self._raw.append((frame, t, index))
                else:
                    self._raw_dropped += 1
            self._wake.wakeOne()

    def _queue(self, command: Callable[[], None]) -> None:
        with QMutexLocker(self._mutex):
            self._commands.append(command)
            self._wake.wakeOne()

    def set_settings(self, settings: PipelineSettings) -> None:
        self._queue(lambda: setattr(self._pipeline, "settings", settings) if self._pipeline else None)
        self._settings = settings

    def set_mirror(self, mirror: bool) -> None:
        self._mirror = mirror

    def set_gestures(self, gestures: dict[str, Gesture]) -> None:
        matcher_gestures = dict(gestures)
        self._queue(lambda: self._pipeline and self._pipeline.matcher.set_gestures(matcher_gestures))

    def capture_gesture(self, name: str, frames: int = 10) -> None:
        self._queue(lambda: self._pipeline and self._pipeline.start_capture(name, frames))

    def source_changed(self, name: str, fps: float) -> None:
        """A new source `name` started: drop tracks, filters and the recording's frame size."""
        with QMutexLocker(self._mutex):
            self._restart = True
            self._pending = None
            self._raw.clear()
        self._source_name, self._source_fps = name, fps

    def start_recording(self, root: Path) -> None:
        self._queue(lambda: self._start_recording(root))

    def stop_recording(self) -> None:
        self._queue(self._stop_recording)

    def set_weights(self, weights: Path | None) -> None:
        """Load other weights (None: the shipped ones) between frames; estimator_ready follows."""
        self._queue(lambda: self._swap_estimator(weights))

    def stop(self) -> None:
        """Finish the current frame, finalise any recording, and wait for the thread.

        The wait is bounded (15 s, enough to finish loading the model on a slow machine) so a hung
        driver cannot hang the app's exit forever.
        """
        with QMutexLocker(self._mutex):
            self._abort = True
            self._wake.wakeOne()
        self.wait(15_000)

    # ---- worker thread ---------------------------------------------------------------------------
    def _start_recording(self, root: Path) -> None:
        self._stop_recording()
        try:
            self._recorder = SessionRecorder(root, self._source_fps, self._session_info(),
                                             self._pipeline.effective_settings())
        except RecordingError as exc:
            self.errored.emit(str(exc))
            self.recording_changed.emit("")
            return
        self._set_recording(True)
        self.recording_changed.emit(str(self._recorder.path))

    def _session_info(self) -> dict:
        return session_info(self.source_spec, self._source_name, self._pipeline.estimator, headless=False)

    def _set_recording(self, on: bool) -> None:
        with QMutexLocker(self._mutex):
            self._recording = on
            self._raw.clear()

    def _stop_recording(self) -> None:
        if self._recorder is None:
            return
        recorder, self._recorder = self._recorder, None
        self._set_recording(False)
        try:
            recorder.close()
        except RecordingError as exc:
            self.errored.emit(str(exc))
        else:
            self.status.emit(f"recorded {recorder.frames} frames into {recorder.path}")
        self.recording_changed.emit("")

    def _record(self, write: Callable[[SessionRecorder], object]) -> None:
        """Run one recorder call; on a write error (disk full) say so once and stop recording,
        while tracking goes on."""
        try:
            write(self._recorder)
        except RecordingError as exc:
            self._recorder = None  # already finalised by the recorder itself
            self._set_recording(False)
            self.errored.emit(str(exc))
            self.recording_changed.emit("")

    def _record_raw(self, raw: list[tuple[np.ndarray, float, int]]) -> None:
        for frame, t, index in raw:
            if self._recorder is not None:
                self._record(lambda r: r.add_frame(frame, index, t))

    def _next_job(self):
        with QMutexLocker(self._mutex):
            while not (self._abort or self._pending or self._commands or self._restart):
                self._wake.wait(self._mutex)
            commands, self._commands = self._commands, []
            job, self._pending = self._pending, None
            restart, self._restart = self._restart, False
            raw, self._raw = self._raw, []
            dropped, self._raw_dropped = self._raw_dropped, 0
            return self._abort, commands, job, restart, raw, dropped

    def _start_detector(self, pool: ThreadPoolExecutor) -> Future:
        """Start MediaPipe in `pool`; detector_ready fires when it is up (or has failed)."""
        self.loading.emit("starting MediaPipe…")
        future = pool.submit(_warm_detector)
        future.add_done_callback(lambda _: self.detector_ready.emit())
        return future

    def _load_estimator(self):
        self.loading.emit("loading DIR-Net (PyTorch, weights, fast path)…")
        estimator, messages = load_estimator(self._weights, self._device, self._threads)
        for message in messages:
            self.errored.emit(message)
        if estimator is not None:
            d = estimator.policy()
            self.estimator_ready.emit(EstimatorInfo(estimator.input_res, d.exit_mode, d.tau_var, d.tau_gate,
                                                    d.max_loops, estimator.is_trained, _personal(estimator)))
        return estimator

    def _swap_estimator(self, weights: Path | None) -> None:
        self._weights = weights
        estimator = self._load_estimator()
        if estimator is not None:
            self._pipeline.estimator = estimator
            self._pipeline.reset()  # the new model's first estimate starts fresh filters
            self.status.emit(f"now using {weights or 'the shipped weights'}")

    def run(self) -> None:
        with ThreadPoolExecutor(1, thread_name_prefix="mediapipe-start") as pool:
            detector = self._start_detector(pool)
            estimator = self._load_estimator()
        try:
            hand_detector = detector.result()
        except Exception as exc:  # noqa: BLE001 - the pipeline retries on the first frame and reports it there
            self.errored.emit(f"MediaPipe did not start: {type(exc).__name__}: {exc}")
            hand_detector = None
        self._pipeline = Pipeline(estimator, self._settings, GestureMatcher(), detector=hand_detector)
        self.ready.emit()
        try:
            while True:
                abort, commands, job, restart, raw, dropped = self._next_job()
                if abort:
                    self._record_raw(raw)  # captured before the stop: part of the recording
                    break
                for command in commands:
                    command()
                if restart:
                    self._pipeline.reset()
                    if self._recorder is not None and self._recorder.frames:
                        self._start_recording(self._recorder.root)  # a new source: a new session
                    elif self._recorder is not None:  # nothing written yet: it records this source
                        self._recorder.fps = self._source_fps
                        self._recorder.info.update(self._session_info())
                if dropped:
                    self.errored.emit(f"recording cannot keep up: {dropped} captured frames not recorded")
                self._record_raw(raw)
                if job is not None:
                    try:
                        self._process(*job)
                    except Exception as exc:  # noqa: BLE001 - keep the stream alive; say what went wrong
                        self.errored.emit(f"frame {job[2]}: {type(exc).__name__}: {exc}")
        finally:
            self._stop_recording()
            self._pipeline.close()

    def _process(self, frame: np.ndarray, t: float, index: int) -> None:
        result = self._pipeline.process(frame, t, index)
        if result.message:
            self.errored.emit(result.message)
        if result.captured:
            self.gesture_captured.emit(*result.captured)
        mirror = self._mirror
        image = annotate(result, mirror=mirror)
        if self._recorder is not None:
            plain = image if not mirror else annotate(result)
            self._record(lambda r: r.add_result(result, plain, self._pipeline.effective_settings()))
        now = time.monotonic()
        self._done_times = [x for x in self._done_times if now - x < 1.0] + [now]
        self.result_ready.emit(Processed(result, image, (now - t) * 1000.0, float(len(self._done_times))))


def _personal(estimator) -> Path | None:
    """The weights file an Estimator loaded, or None for the shipped weights (or none at all)."""
    from dirnet import DEFAULT_WEIGHTS  # torch is loaded by now

    loaded = estimator.weights_path
    return None if loaded is None or same_weights(loaded, DEFAULT_WEIGHTS) else loaded


def _warm_detector() -> HandDetector:
    """A static-mode detector that has run once: its first call sets up TFLite's XNNPACK delegate
    (a few hundred ms), which then happens here, beside DIR-Net's loading, not on the first frame."""
    detector = HandDetector(max_hands=2, static=True)
    detector.detect(np.zeros((64, 64, 3), np.uint8))
    return detector
