"""The MediaPipe teacher CLI on real photos, a corrupt file, a blank image and a truncated video."""
from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import shared_path

pytestmark = pytest.mark.slow  # each test runs MediaPipe in a fresh interpreter

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = [("sign_digits", "4__IMG_5810.jpg"),  # 100 px: needs the padding
          ("gesture_lab", "up__546acd35-70e6-4822-92e3-09703574de4c_org.jpg"),
          ("webcam_rooms", "46_pic00003.jpg")]


def _run_teacher(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dirnet.data.teacher", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_teacher_labels_real_photos_and_reports_bad_files(tmp_path):
    photos = tmp_path / "photos"
    (photos / "nested").mkdir(parents=True)
    for i, (folder, name) in enumerate(PHOTOS):
        target = photos / "nested" if i == 2 else photos  # folders are searched recursively
        shutil.copy(shared_path("data", "hand_photos", folder, name), target / name)
    (photos / "corrupt.jpg").write_bytes(np.random.default_rng(0).bytes(4000))
    cv2.imwrite(str(photos / "blank.png"), np.full((300, 400, 3), 128, np.uint8))
    out = tmp_path / "teacher"

    result = _run_teacher("--images", str(photos), "--out", str(out), "--res", "128")

    assert result.returncode == 0, result.stderr
    error_lines = [l for l in result.stderr.splitlines() if "corrupt.jpg" in l]
    assert len(error_lines) == 1 and "unreadable" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert "1 without a hand, 1 unreadable" in result.stderr
    records = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    sources = {Path(r["source"]).name for r in records}
    assert sources == {name for _, name in PHOTOS}
    for record in records:
        crop = cv2.imread(str(out / record["file"]))
        assert crop.shape == (128, 128, 3)
        joints2d = np.array(record["joints2d"])
        joints3d = np.array(record["joints3d"])
        assert joints2d.shape == (21, 2) and joints3d.shape == (21, 3)
        assert (joints2d > -0.5).all() and (joints2d < 127.5).all()
        np.testing.assert_array_equal(joints3d[0], 0.0)
        # A hand is 5-30 cm long: world landmarks really are millimetres.
        assert 50 < np.linalg.norm(joints3d[12]) < 300
        assert record["handedness"] in ("left", "right") and 0.5 <= record["score"] <= 1.0
    # These three are right hands with the palm to the camera in unmirrored photos; MediaPipe
    # calls them "Left", and the index stores the true hand.
    assert {r["handedness"] for r in records} == {"right"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos", "teacher"]  # no temp dir


def test_teacher_reports_truncated_video_and_empty_folder(tmp_path):
    # 30 real frames as MJPG AVI (its header states the frame count), cut in the middle.
    capture = cv2.VideoCapture(str(shared_path("data", "asl_video", "asl_hand.25fps.mp4")))
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (310, 540))
    for _ in range(30):
        writer.write(cv2.resize(capture.read()[1], (310, 540)))
    writer.release()
    data = video.read_bytes()
    video.write_bytes(data[: len(data) // 2])
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "teacher"

    result = _run_teacher("--images", str(video), str(empty), "--out", str(out),
                          "--res", "96", "--frame-step", "2")

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert f"no images in folder {empty}" in result.stderr
    truncated = [l for l in result.stderr.splitlines() if l.startswith("warning: video truncated")]
    assert len(truncated) == 1 and "of 30 frames" in truncated[0]
    frames = [json.loads(line)["frame"] for line in (out / "index.jsonl").read_text().splitlines()]
    assert frames and all(f % 2 == 0 and f < 30 for f in frames)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".teacher")]


def test_teacher_writes_nothing_when_no_hand_is_found(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "blank.png"), np.full((64, 64, 3), 90, np.uint8))
    out = tmp_path / "teacher"

    result = _run_teacher("--images", str(photos), "--out", str(out))

    assert result.returncode == 1
    assert "no hand found" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_interrupted_run_leaves_no_dataset_and_no_temp_dir(tmp_path):
    video = shared_path("data", "asl_video", "asl_hand.25fps.mp4")
    out = tmp_path / "teacher"
    process = subprocess.Popen([sys.executable, "-m", "dirnet.data.teacher", "--images", str(video),
                                "--out", str(out), "--res", "64"], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               # a background shell (nohup ... &) starts its jobs with SIGINT ignored
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300  # a busy machine takes long to import torch and MediaPipe
    while not list(tmp_path.glob(".teacher.tmp-*/index.jsonl")) and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until it is writing the dataset
    assert list(tmp_path.glob(".teacher.tmp-*/index.jsonl")), "the teacher never started writing"
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 130, stderr
    assert "interrupted; nothing written" in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []
