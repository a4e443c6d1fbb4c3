"""The pipeline without a window: `python main.py --headless --source ... [--max-frames N] [--record DIR]`.

Same Pipeline and recorder as the window, in one thread: every frame of a file is processed (no
dropping), a camera is read at its own pace. Prints one status line per second on stdout and
problems as single lines on stderr; Ctrl+C or SIGTERM finalise the recording.
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
from .recording import SessionRecorder
from .sources import FrameSource, open_auto, open_source

__all__ = ["run_headless", "settings_from_config", "status_line"]

_RETRY_S = 1.0


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


def _open(config: AppConfig, err: TextIO) -> FrameSource | None:
    try:
        if config.source == "auto":
            source, message = open_auto(config.width, config.height, config.fps)
            if message:
                print(message, file=err)
            return source
        return open_source(config.source, config.width, config.height, config.fps)
    except (OSError, ValueError) as exc:
        print(f"cannot open source {config.source!r}: {exc}", file=err)
        return None


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_headless(config: AppConfig, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run until the source ends, --max-frames is reached, or Ctrl+C.

    Returns:
        Exit status: 0 on success, 1 if the source could not be opened (a camera that is not
        there yet is waited for instead).
    """
    source = _open(config, err)
    while source is None:
        if not (config.source.isdigit() or config.source == "auto"):
            return 1
        time.sleep(_RETRY_S)  # a camera may be plugged in: keep trying until Ctrl+C
        source = _open(config, err)
    estimator, messages = load_estimator(config.weights, config.device, config.threads)
    for message in messages:
        print(message, file=err)
    matcher = GestureMatcher()
    try:
        matcher.set_gestures(GestureStore(config.gestures).gestures)
    except ValueError as exc:
        print(f"gestures not loaded: {exc}", file=err)
    pipeline = Pipeline(estimator, settings_from_config(config), matcher)
    recorder = None
    if config.record is not None:
        recorder = SessionRecorder(config.record, source.fps, {
            "source": config.source, "headless": True, "settings": vars(pipeline.settings),
            "weights_trained": bool(getattr(estimator, "is_trained", False))})
        print(f"recording into {recorder.path}", file=out)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    frames, start, last_print, done = 0, time.monotonic(), time.monotonic(), []
    buffer: np.ndarray | None = None
    try:
        while config.max_frames is None or frames < config.max_frames:
            frame = source.read()
            if frame is None:
                if not source.live:
                    break
                print(f"{source.name} stopped delivering frames; retrying", file=err)
                source.close()
                source = None
                while source is None:
                    time.sleep(_RETRY_S)
                    source = _open(config, err)
                continue
            t = time.monotonic() if source.live else frames / source.fps
            result = pipeline.process(frame, t, frames)
            if result.message:
                print(result.message, file=err)
            frames += 1
            if recorder is not None:
                buffer = annotate(result, buffer)
                recorder.write(result, buffer)
            now = time.monotonic()
            done = [x for x in done if now - x < 1.0] + [now]
            if now - last_print >= 1.0:
                print(status_line(now - start, frames, len(done), result), file=out, flush=True)
                last_print = now
    except KeyboardInterrupt:
        print("interrupted", file=err)
    finally:
        signal.signal(signal.SIGTERM, previous)
        if recorder is not None:
            recorder.close()
        pipeline.close()
        if source is not None:
            source.close()
    elapsed = time.monotonic() - start
    print(f"done: {frames} frames in {elapsed:.1f} s ({frames / max(elapsed, 1e-9):.1f} fps)"
          + (f", recorded into {recorder.path}" if recorder else ""), file=out, flush=True)
    return 0
