"""The pipeline without a window: `python main.py --headless --source ... [--max-frames N] [--record DIR]`.

Same Pipeline and recorder as the window, in one thread: every frame of a file is processed (no
dropping), a camera is read at its own pace and waited for (up to --camera-wait) when absent.
Prints one status line per second on stdout and problems as single lines on stderr; Ctrl+C or
SIGTERM finalise the recording and exit with 130 / 143.
"""
from __future__ import annotations

import signal
import sys
import time
from typing import TextIO

import numpy as np

from .config import AppConfig
from .drawing import annotate
from .gestures import GestureMatcher, GestureStore
from .model import load_estimator
from .pipeline import FrameResult, Pipeline, PipelineSettings
from .provenance import session_info
from .recording import RecordingError, SessionRecorder, check_writable
from .sources import FrameSource, open_auto, open_source

__all__ = ["run_headless", "settings_from_config", "status_line"]

_BACKOFF_S = (0.5, 5.0)  # first and longest pause between attempts to open a camera


def settings_from_config(config: AppConfig) -> PipelineSettings:
    """The pipeline settings a command line asks for."""
    return PipelineSettings(
        exit_mode=config.exit_mode, tau_gate=config.tau_gate, tau_var=config.tau_var,
        max_loops=config.max_loops, smoothing=config.smoothing, min_cutoff=config.min_cutoff,
        beta=config.beta, show_mediapipe=config.show_mediapipe,
        gesture_threshold=config.gesture_threshold, max_hands=config.max_hands)


def status_line(elapsed: float, frames: int, fps: float, result: FrameResult) -> str:
    """One line summarising the latest frame, e.g. for the headless status output."""
    loops = "/".join(str(n) for n in result.loops) or "-"
    gestures = ",".join(h.gesture.name for h in result.hands if h.gesture) or "-"
    t = result.timings
    return (f"[{elapsed:7.1f}s] frames {frames:6d}  {fps:5.1f} fps  hands {len(result.hands)}  "
            f"loops {loops:5s}  {result.gflops:5.2f} GFLOPs  dirnet {t.get('dirnet', 0.0):5.1f} ms  "
            f"frame {t.get('total', 0.0):5.1f} ms  gesture {gestures}")


class _Signals:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread, so every `finally` runs and
    the recording is finalised; the signal is remembered for the exit status (128 + its number)."""

    def __enter__(self) -> "_Signals":
        self.received: int | None = None
        self._previous = {sig: signal.signal(sig, self._handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame) -> None:
        self.received = signum
        raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    @property
    def status(self) -> int:
        return 128 + (self.received or signal.SIGINT)


def _try_open(config: AppConfig, err: TextIO) -> tuple[FrameSource | None, str]:
    try:
        if config.source == "auto":
            source, message = open_auto(config.width, config.height, config.fps)
            if message:
                print(message, file=err)
            return source, ""
        return open_source(config.source, config.width, config.height, config.fps), ""
    except (OSError, ValueError) as exc:
        return None, str(exc)


def _wait_for_source(config: AppConfig, err: TextIO) -> FrameSource | None:
    """Open the source; wait for a camera that is not there (yet), up to --camera-wait seconds.

    Says once that it waits and how to stop, then tries again at growing intervals (a camera
    takes a while to come back; hammering V4L2 helps nothing).
    """
    source, problem = _try_open(config, err)
    if source is not None:
        return source
    if not config.source.isdigit():
        print(f"cannot open source {config.source!r}: {problem}", file=err)
        return None
    limit = config.camera_wait
    until = f"up to {limit:g} s (Ctrl+C to stop; --camera-wait 0 waits until then)" if limit \
        else "until Ctrl+C"
    print(f"{problem}: waiting for it {until}", file=err, flush=True)
    deadline, delay = time.monotonic() + limit, _BACKOFF_S[0]
    while True:
        left = deadline - time.monotonic()
        if limit and left <= 0:
            print(f"gave up: camera {config.source} did not come within {limit:g} s", file=err)
            return None
        time.sleep(min(delay, left) if limit else delay)
        delay = min(delay * 2, _BACKOFF_S[1])
        source, _ = _try_open(config, err)
        if source is not None:
            print(f"{source.name} is delivering frames", file=err)
            return source


def _skipped(source: FrameSource) -> str:
    what = "files" if source.name.endswith("/") else "frames"
    return f"{source.skipped} unreadable {what}" if source.skipped else ""


def run_headless(config: AppConfig, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run until the source ends, --max-frames is reached, or Ctrl+C / SIGTERM.

    Returns:
        Exit status: 0 when the run finished; 1 when the source could not be opened or nothing
        could be read from it, or the recording failed; 2 when the --record folder is unusable
        (checked before anything loads); 130 / 143 when interrupted by SIGINT / SIGTERM.
    """
    if config.record is not None:
        try:
            check_writable(config.record)
        except RecordingError as exc:
            print(exc, file=err)
            return 2
    with _Signals() as signals:
        try:
            return _run(config, out, err, signals)
        except KeyboardInterrupt:  # while waiting for a camera or loading the model
            print("interrupted", file=err)
            return signals.status


def _start_recording(config: AppConfig, source: FrameSource, pipeline: Pipeline, out: TextIO,
                     err: TextIO) -> SessionRecorder | None:
    info = session_info(config.source, source.name, pipeline.estimator, headless=True)
    try:
        recorder = SessionRecorder(config.record, source.fps, info, pipeline.effective_settings())
    except RecordingError as exc:
        print(exc, file=err)
        return None
    print(f"recording into {recorder.path}", file=out)
    return recorder


def _run(config: AppConfig, out: TextIO, err: TextIO, signals: _Signals) -> int:
    source = _wait_for_source(config, err)
    if source is None:
        return 1
    name = source.name
    first = source.read()  # before the model loads: a file with nothing readable fails at once
    if first is None and not source.live:
        source.close()
        skipped = _skipped(source)
        print(f"nothing could be read from {name}" + (f" ({skipped})" if skipped else ""), file=err)
        return 1
    estimator, messages = load_estimator(config.weights, config.device, config.threads)
    for message in messages:
        print(message, file=err)
    matcher = GestureMatcher()
    try:
        matcher.set_gestures(GestureStore(config.gestures).gestures)
    except ValueError as exc:
        print(f"gestures not loaded: {exc}", file=err)
    pipeline = Pipeline(estimator, settings_from_config(config), matcher)
    recorder = _start_recording(config, source, pipeline, out, err) if config.record else None
    status = 1 if config.record and recorder is None else 0
    frames, skipped, start, last_print, done = 0, "", time.monotonic(), time.monotonic(), []
    buffer: np.ndarray | None = None
    try:
        while config.max_frames is None or frames < config.max_frames:
            frame, first = (first, None) if first is not None else (source.read(), None)
            if frame is None:
                if not source.live:
                    break
                print(f"{source.name} stopped delivering frames", file=err)
                source.close()
                source = _wait_for_source(config, err)
                if source is None:
                    status = 1
                    break
                continue
            # files: the frame's own number and time, so a damaged stretch keeps its place
            index = frames if source.live else source.position
            t = time.monotonic() if source.live else index / source.fps
            result = pipeline.process(frame, t, index)
            if result.message:
                print(result.message, file=err)
            frames += 1
            if recorder is not None:
                buffer = annotate(result, buffer)
                try:
                    recorder.add_frame(frame, index, t)
                    recorder.add_result(result, buffer, pipeline.effective_settings())
                except RecordingError as exc:  # e.g. disk full: say so once, keep tracking
                    print(exc, file=err)
                    recorder, status = None, 1
            now = time.monotonic()
            done = [x for x in done if now - x < 1.0] + [now]
            if now - last_print >= 1.0:
                print(status_line(now - start, frames, len(done), result), file=out, flush=True)
                last_print = now
    except KeyboardInterrupt:
        print("interrupted", file=err)
        status = signals.status
    finally:
        if recorder is not None:
            try:
                recorder.close()
            except RecordingError as exc:
                print(exc, file=err)
                status = status or 1
        pipeline.close()
        if source is not None:
            skipped = _skipped(source)
            source.close()
    if skipped:
        print(f"{name}: skipped {skipped}", file=err)
    elapsed = time.monotonic() - start
    print(f"done: {frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} fps)"
          + (f", recorded into {recorder.path}" if recorder else ""), file=out, flush=True)
    return status
