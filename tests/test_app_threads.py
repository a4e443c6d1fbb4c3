"""CaptureThread and InferenceWorker: real frames, latest-frame-wins, recording, errors, clean stops."""
from __future__ import annotations

import json
import time
from pathlib import Path

import av
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt  # noqa: E402

from app.capture import CaptureThread  # noqa: E402
from app.demo import DemoSource  # noqa: E402
from app.drawing import annotate  # noqa: E402
from app.pipeline import PipelineSettings  # noqa: E402
from app.sources import SourceError  # noqa: E402
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


def test_recording_keeps_every_submitted_frame_and_is_finalised_on_stop(qtbot, worker, demo_frames, tmp_path):
    with qtbot.waitSignal(worker.recording_changed, timeout=10_000) as sig:
        worker.start_recording(tmp_path)
    session = Path(sig.args[0])
    for i, frame in enumerate(demo_frames[:12]):
        worker.submit(frame, 3.0 + i / 25, i)  # faster than the worker processes: most are skipped
    qtbot.waitUntil(lambda: bool(worker.results) and worker.results[-1].result.index == 11, timeout=60_000)
    worker.stop()  # like closing the window mid-recording
    assert sorted(p.name for p in session.iterdir()) == ["annotated.mp4", "frames.jsonl", "raw.mp4",
                                                         "session.json"]
    lines = [json.loads(x) for x in (session / "frames.jsonl").read_text().splitlines()]
    assert lines[-1]["frame"] == 11 and len(lines) < 12  # results only for the processed frames
    for name in ("raw.mp4", "annotated.mp4"):  # ... but every captured frame, at its capture time
        with av.open(str(session / name)) as container:
            times = [float(f.time) for f in container.decode(video=0)]
        assert times == pytest.approx([i / 25 for i in range(12)], abs=1e-3)
    meta = json.loads((session / "session.json").read_text())
    assert meta["frames"] == 12 and meta["results"] == len(lines) and meta["settings"]["tau_gate"] > 0


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


class _Camera:
    """Stands in for camera hardware (the thing under test is CaptureThread): delivers `frames`
    frames of `size`, then nothing, as when its cable is pulled."""

    live = True
    skipped = 0

    def __init__(self, index: int, size: tuple[int, int], frames: int) -> None:
        self.name, self.fps, self.position = f"camera {index}", 30.0, -1
        self._size, self._left = size, frames

    def read(self):
        if self._left == 0:
            return None
        self._left -= 1
        self.position += 1
        time.sleep(0.01)
        return np.full((self._size[1], self._size[0], 3), self.position % 250, np.uint8)

    def close(self) -> None:
        pass


def test_a_camera_that_drops_out_is_reopened_even_at_another_resolution(qtbot):
    attempts = []

    def opener(spec, width, height, fps, loop=True):
        attempts.append(spec)
        if len(attempts) == 1:
            return _Camera(int(spec), (320, 240), frames=5)
        if len(attempts) == 2:
            raise SourceError(f"camera {spec} did not open (unplugged or used by another program?)")
        return _Camera(int(spec), (640, 480), frames=10**6)  # back, in another mode

    capture = CaptureThread(opener=opener)
    shapes, errors, statuses, opened = [], [], [], []
    capture.frame_ready.connect(lambda f, t, i: shapes.append(f.shape), Qt.ConnectionType.DirectConnection)
    capture.errored.connect(errors.append)
    capture.status.connect(statuses.append)
    capture.source_opened.connect(lambda name, fps: opened.append(name))
    capture.open("7", 320, 240, 30)
    qtbot.waitUntil(lambda: len([s for s in shapes if s == (480, 640, 3)]) >= 3, timeout=20_000)
    capture.stop()
    assert not capture.isRunning()
    assert shapes[:5] == [(240, 320, 3)] * 5 and set(shapes[5:]) == {(480, 640, 3)}
    assert errors[0] == "camera 7 stopped delivering frames; retrying every second"
    assert "camera 7 is back" in statuses and opened == ["camera 7", "camera 7"] and attempts == ["7"] * 3


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
