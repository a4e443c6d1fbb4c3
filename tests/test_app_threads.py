"""CaptureThread and InferenceWorker: real frames, latest-frame-wins, recording, errors, clean stops."""
from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt  # noqa: E402

from app.capture import CaptureThread  # noqa: E402
from app.demo import DemoSource  # noqa: E402
from app.drawing import annotate  # noqa: E402
from app.pipeline import PipelineSettings  # noqa: E402
from app.worker import InferenceWorker  # noqa: E402

LOAD_MS = 180_000  # loading torch + the model on a busy 2-core machine


@pytest.fixture
def worker(qtbot):
    w = InferenceWorker(None, "cpu", PipelineSettings())
    results = []
    w.result_ready.connect(results.append)
    with qtbot.waitSignal(w.estimator_ready, timeout=LOAD_MS):
        w.start()
    w.results = results
    yield w
    w.stop()
    assert not w.isRunning()


@pytest.fixture(scope="module")
def demo_frames():
    demo = DemoSource(width=320, height=240)
    return [demo.read() for _ in range(30)]


def test_capture_feeds_the_worker_and_both_stop(qtbot, worker):
    capture = CaptureThread()
    capture.frame_ready.connect(worker.submit, Qt.ConnectionType.DirectConnection)
    capture.source_opened.connect(worker.source_changed, Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(capture.source_opened, timeout=60_000) as opened:
        capture.open("demo", 320, 240, 25)
    assert opened.args == ["demo", 25.0]
    qtbot.waitUntil(lambda: len(worker.results) >= 4, timeout=120_000)
    start = time.monotonic()
    capture.stop()
    assert not capture.isRunning() and time.monotonic() - start < 3.5
    p = worker.results[-1]
    assert p.image.shape == (240, 320, 3) and p.latency_ms > 0 and p.fps > 0
    indices = [r.result.index for r in worker.results]
    assert indices == sorted(indices)


def test_latest_frame_wins(qtbot, worker, demo_frames):
    for i, frame in enumerate(demo_frames):
        worker.submit(frame, float(i) / 25, i)  # far faster than the worker can process
    qtbot.waitUntil(lambda: bool(worker.results) and worker.results[-1].result.index == 29, timeout=60_000)
    time.sleep(0.3)
    qtbot.wait(50)
    processed = [r.result.index for r in worker.results]
    assert processed[-1] == 29 and len(processed) < len(demo_frames)  # stale frames were skipped


def test_recording_through_the_worker_is_finalised_on_stop(qtbot, worker, demo_frames, tmp_path):
    with qtbot.waitSignal(worker.recording_changed, timeout=10_000) as sig:
        worker.start_recording(tmp_path, {"source": "test"})
    session = sig.args[0]
    for i, frame in enumerate(demo_frames[:5]):
        worker.submit(frame, i / 25, i)
        qtbot.waitUntil(lambda i=i: bool(worker.results) and worker.results[-1].result.index == i,
                        timeout=60_000)
    worker.stop()  # like closing the window mid-recording
    names = sorted(p.name for p in (tmp_path / session.split("/")[-1]).iterdir())
    assert names == ["annotated.mp4", "frames.jsonl", "raw.mp4", "session.json"]
    lines = (tmp_path / session.split("/")[-1] / "frames.jsonl").read_text().splitlines()
    assert len(lines) == 5


def test_capture_reports_bad_sources_and_keeps_retrying_cameras(qtbot):
    capture = CaptureThread()
    errors = []
    capture.errored.connect(errors.append)
    capture.open("/no/such/video.mp4")
    qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
    assert "/no/such/video.mp4" in errors[0]
    capture.open("63")  # no such camera: it keeps trying, once a second
    qtbot.waitUntil(lambda: sum("camera 63" in e for e in errors) >= 2, timeout=10_000)
    with qtbot.waitSignal(capture.source_opened, timeout=60_000):
        capture.open("demo", 160, 120, 25)  # and switches when asked
    capture.stop()
    assert not capture.isRunning()


def test_each_result_owns_its_image(qtbot, worker, demo_frames):
    """What the UI shows of a result can never change after it was emitted (one result, one frame)."""
    snapshots = []
    worker.result_ready.connect(lambda p: snapshots.append((p, p.image.copy())), Qt.ConnectionType.DirectConnection)
    for i, frame in enumerate(demo_frames[:8]):
        worker.submit(frame, i / 25, i)
        qtbot.waitUntil(lambda i=i: bool(snapshots) and snapshots[-1][0].result.index == i, timeout=60_000)
    assert len(snapshots) == 8 and any(p.result.hands for p, _ in snapshots)
    for processed, as_emitted in snapshots:
        np.testing.assert_array_equal(processed.image, as_emitted)  # not overwritten by later frames
        np.testing.assert_array_equal(processed.image, annotate(processed.result))  # whole overlay


def test_a_source_that_fails_leaves_the_playing_one_and_pause_holds_frames(qtbot):
    capture = CaptureThread()
    errors, frames = [], []
    capture.errored.connect(errors.append)
    capture.frame_ready.connect(lambda f, t, i: frames.append(i), Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(capture.source_opened, timeout=60_000):
        capture.open("demo", 160, 120, 25)
    capture.open("/no/such/video.mp4")
    qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
    assert "/no/such/video.mp4" in errors[0] and errors[0].endswith("still showing demo")
    count = len(frames)
    qtbot.waitUntil(lambda: len(frames) > count + 5, timeout=10_000)  # the demo goes on
    capture.set_paused(True)
    qtbot.wait(300)
    count = len(frames)
    qtbot.wait(500)
    assert len(frames) == count and capture.is_paused()
    capture.set_paused(False)
    qtbot.waitUntil(lambda: len(frames) > count, timeout=10_000)
    capture.stop()
    assert not capture.isRunning()
