"""Session recording: file layout, JSONL schema, no overwrites, and readable after kill -9."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from app.drawing import annotate
from app.pipeline import FrameResult, HandResult
from app.recording import SessionRecorder, new_session_dir
from dirnet.crop import Box
from dirnet.pose import HandPose, LoopTrace

ROOT = Path(__file__).resolve().parents[1]


def _hand(rng) -> HandResult:
    j2 = rng.uniform(40, 200, (21, 2)).astype(np.float32)
    j3 = rng.normal(0, 40, (21, 3)).astype(np.float32)
    var = np.full((21, 2), 4.0, np.float32)
    trace = (LoopTrace(j2, j3, var, np.ones((21, 3), np.float32), 0.7),)
    pose = HandPose("left", j2, j3, np.zeros((5, 3), np.float32), np.zeros((1, 3), np.int32), var,
                    np.ones((21, 3), np.float32), 1, 0.25, trace)
    return HandResult(3, "left", Box(120, 120, 180), np.zeros((64, 64, 3), np.uint8), np.eye(2, 3),
                      pose, j2, var, j3, pose.vertices)


def _frames(n, rng, width=160, height=120):
    """Textured frames drifting sideways, so they compress like camera footage, not like a flat fill."""
    texture = rng.integers(0, 256, (height, width + n, 3), dtype=np.uint8)
    for i in range(n):
        frame = np.ascontiguousarray(texture[:, i:i + width])
        yield FrameResult(i, 10.0 + i / 25, frame, hands=[_hand(rng)] if i % 2 else [])


def test_session_layout_schema_and_readable_videos(tmp_path):
    rng = np.random.default_rng(0)
    with SessionRecorder(tmp_path, fps=25, info={"source": "test"}) as rec:
        for result in _frames(12, rng):
            rec.write(result, annotate(result))
        session = rec.path
    assert sorted(p.name for p in session.iterdir()) == ["annotated.mp4", "frames.jsonl", "raw.mp4",
                                                         "session.json"]
    for name in ("raw.mp4", "annotated.mp4"):
        cap = cv2.VideoCapture(str(session / name))
        count = 0
        while cap.read()[0]:
            count += 1
        assert count == 12 and cap.get(cv2.CAP_PROP_FRAME_WIDTH) == 160
    lines = [json.loads(line) for line in (session / "frames.jsonl").read_text().splitlines()]
    assert [rec["frame"] for rec in lines] == list(range(12))
    assert lines[0]["t"] == 0.0 and lines[5]["t"] == pytest.approx(0.2)
    hand = lines[1]["hands"][0]
    assert set(hand) == {"handedness", "box", "joints2d", "joints3d", "loops", "gflops", "var2d", "gesture"}
    assert np.array(hand["joints2d"]).shape == (21, 2) and np.array(hand["joints3d"]).shape == (21, 3)
    assert np.array(hand["var2d"]).shape == (21, 2) and hand["box"] == [120.0, 120.0, 180.0]
    assert hand["loops"] == 1 and hand["gesture"] is None and lines[0]["hands"] == []
    assert json.loads((session / "session.json").read_text())["width"] == 160


def test_new_sessions_never_share_a_folder(tmp_path):
    folders = {new_session_dir(tmp_path) for _ in range(3)}  # same second: suffixes -2, -3
    assert len(folders) == 3 and all(p.is_dir() for p in folders)


def test_frame_size_change_is_refused(tmp_path):
    rng = np.random.default_rng(1)
    with SessionRecorder(tmp_path, fps=25) as rec:
        first = next(_frames(1, rng))
        rec.write(first, first.frame)
        other = FrameResult(1, 11.0, np.zeros((50, 60, 3), np.uint8))
        with pytest.raises(ValueError, match="differs"):
            rec.write(other, other.frame)


@pytest.mark.timeout(120)
def test_files_are_readable_after_kill_9(tmp_path):
    script = textwrap.dedent(f"""
        import sys, time, numpy as np
        sys.path.insert(0, {str(ROOT)!r})
        from tests.test_app_recording import _frames
        from app.recording import SessionRecorder
        rec = SessionRecorder({str(tmp_path)!r}, fps=25)
        for result in _frames(2_000, np.random.default_rng(0), 320, 240):
            rec.write(result, result.frame)
            if rec.frames == 60:
                print("written", flush=True)
            time.sleep(0.002)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
        time.sleep(0.3)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    (session,) = tmp_path.iterdir()
    lines = (session / "frames.jsonl").read_text().splitlines()
    assert len(lines) >= 60 and all(json.loads(line)["frame"] == i for i, line in enumerate(lines))
    cap = cv2.VideoCapture(str(session / "raw.recording.ismv"))
    count = 0
    while cap.read()[0]:
        count += 1
    assert count >= 40  # all but the last unfinished fragment (about half a second)
