"""End to end: `main.py --headless --record` on the real clip, then the recording is checked."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import shared_path

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 40
# Median distance to MediaPipe's own landmarks on the 620x1080 clip. The aim is ~25 px; the
# shipped model measures ~36 px over these 40 frames (frames 12-40 are a handshape it gets ~46 px
# wrong even from the reference crop; docs/MODEL_CARD.md). 60 px still fails on broken tracking
# (a drifting or collapsing crop measured 336 px).
AGREEMENT_PX = 60.0


@dataclass
class Run:
    folder: Path  # the session folder the run recorded into
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Run:
    clip = shared_path("data", "asl_video", "asl_hand.25fps.mp4")
    out = tmp_path_factory.mktemp("sessions")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--headless", "--source", str(clip),
         "--max-frames", str(FRAMES), "--record", str(out)],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (folder,) = out.iterdir()
    return Run(folder, proc.stdout, proc.stderr)


def test_headless_run_records_readable_files(session):
    assert f"done: {FRAMES} frames" in session.stdout and "Traceback" not in session.stderr
    for name in ("raw.mp4", "annotated.mp4"):
        cap = cv2.VideoCapture(str(session.folder / name))
        count = 0
        while cap.read()[0]:
            count += 1
        size = (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        assert count == FRAMES and size == (620, 1080)
    lines = [json.loads(x) for x in (session.folder / "frames.jsonl").read_text().splitlines()]
    assert [rec["frame"] for rec in lines] == list(range(FRAMES))
    assert lines[-1]["t"] == pytest.approx((FRAMES - 1) / 25)
    tracked = [rec for rec in lines if rec["hands"]]
    assert len(tracked) >= FRAMES // 2  # MediaPipe finds the signer's hand; we follow it
    for rec in tracked:
        for hand in rec["hands"]:
            assert hand["handedness"] in ("left", "right") and hand["loops"] >= 1 and hand["gflops"] > 0
            assert np.array(hand["joints2d"]).shape == (21, 2) and np.array(hand["joints3d"]).shape == (21, 3)
            assert np.array(hand["var2d"]).shape == (21, 2) and len(hand["box"]) == 3
            assert hand["gesture"] is None or set(hand["gesture"]) == {"name", "confidence"}
    assert tracked[0]["hands"][0]["handedness"] == "right"


def test_tracked_joints_agree_with_mediapipe_reference(session):
    meta = json.loads((session.folder / "session.json").read_text())
    if not meta["weights_trained"]:
        pytest.skip("no trained DIR-Net weights are shipped yet: the untrained model's joints are "
                    "meaningless, so 2D agreement is not checked (the recording checks above still run)")
    reference = json.loads(shared_path("data", "asl_video", "asl_hand.full.json").read_text())
    errors = []
    for rec in map(json.loads, (session.folder / "frames.jsonl").read_text().splitlines()):
        if rec["hands"]:
            ref = np.array(reference[rec["frame"]])[:, :2]
            # one signer's hand: compare the tracked hand whose box is nearest to it
            hand = min(rec["hands"], key=lambda h: np.hypot(*(np.array(h["box"][:2]) - ref.mean(0))))
            errors.append(np.linalg.norm(np.array(hand["joints2d"]) - ref, axis=1))
    assert len(errors) >= FRAMES // 2
    assert float(np.median(np.concatenate(errors))) < AGREEMENT_PX
