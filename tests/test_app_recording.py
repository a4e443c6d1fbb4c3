"""Session recording on real demo frames: every capture frame kept, real-time timing, letterboxing,
session.json, and what survives kill -9 and a full disk."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from app.drawing import annotate
from app.pipeline import FrameResult
from app.recording import RecordingError, SessionRecorder, check_writable, fit, new_session_dir
from tests.conftest import demo_frames, make_hand

ROOT = Path(__file__).resolve().parents[1]
FPS = 25


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return demo_frames(30)


def _decode(path: Path) -> tuple[list[np.ndarray], list[float]]:
    """Every frame (RGB) and its timestamp in seconds, as a player sees them."""
    with av.open(str(path)) as container:
        decoded = [(f.to_ndarray(format="rgb24"), float(f.time)) for f in container.decode(video=0)]
    return [d[0] for d in decoded], [d[1] for d in decoded]


def test_raw_keeps_every_frame_and_annotated_plays_in_real_time(tmp_path, frames):
    rng = np.random.default_rng(0)
    processed = {0, 4, 8, 12, 16, 20, 24}  # a slow tracker: only every 4th capture frame
    settings = {"exit_mode": "gate", "tau_gate": 1.0}
    with SessionRecorder(tmp_path, fps=FPS, info={"source": "demo"}, settings=settings) as rec:
        for i, frame in enumerate(frames):
            rec.add_frame(frame, 100 + i, 5.0 + i / FPS)  # source numbering and clock of its own
            if i in processed:
                result = FrameResult(100 + i, 5.0 + i / FPS, frame, hands=[make_hand(rng)] if i % 8 else [])
                changed = {**settings, "tau_gate": 2.0} if i >= 16 else settings
                assert rec.add_result(result, annotate(result), changed)
        session = rec.path
    assert sorted(p.name for p in session.iterdir()) == ["annotated.mp4", "frames.jsonl", "raw.mp4",
                                                         "session.json"]
    raw, raw_t = _decode(session / "raw.mp4")
    annotated, annotated_t = _decode(session / "annotated.mp4")
    assert len(raw) == len(annotated) == 30 and raw[0].shape == (240, 320, 3)
    assert raw_t == pytest.approx([i / FPS for i in range(30)], abs=1e-3) and annotated_t == raw_t
    assert np.abs(raw[7].astype(int) - frames[7]).mean() < 6  # the capture frame itself
    # a frame the tracker skipped repeats the last overlay: the video keeps real time
    assert np.abs(annotated[7].astype(int) - annotated[4]).mean() < 2
    assert np.abs(annotated[8].astype(int) - annotated[7]).mean() > 2
    lines = [json.loads(line) for line in (session / "frames.jsonl").read_text().splitlines()]
    assert [x["frame"] for x in lines] == sorted(processed)
    assert [x["source_frame"] for x in lines] == [100 + i for i in sorted(processed)]
    assert lines[2]["t"] == pytest.approx(8 / FPS) and lines[0]["size"] == [320, 240]
    hand = lines[1]["hands"][0]
    assert set(hand) == {"handedness", "box", "joints2d", "joints3d", "loops", "gflops", "var2d", "gesture"}
    assert np.array(hand["joints2d"]).shape == (21, 2) and hand["box"] == [120.0, 120.0, 180.0]
    assert lines[0]["hands"] == [] and "to_video" not in lines[0]
    meta = json.loads((session / "session.json").read_text())
    assert meta["width"] == 320 and meta["frames"] == 30 and meta["results"] == 7 and "ended" in meta
    assert meta["settings"] == settings and meta["source"] == "demo"
    assert meta["changes"] == [{"frame": 16, "t": pytest.approx(16 / FPS), "set": {"tau_gate": 2.0}}]


def test_frames_of_another_size_are_fitted_into_the_session(tmp_path, frames):
    sizes = [(320, 240), (200, 300), (641, 481), (320, 240)]  # portrait, odd, back again
    with SessionRecorder(tmp_path, fps=FPS) as rec:
        for i, (w, h) in enumerate(sizes):
            frame = cv2.resize(frames[i], (w, h))
            rec.add_frame(frame, i, i / FPS)
            result = FrameResult(i, i / FPS, frame)
            rec.add_result(result, annotate(result))
        session = rec.path
    raw, _ = _decode(session / "raw.mp4")
    assert len(raw) == 4 and {f.shape for f in raw} == {(240, 320, 3)}
    lines = [json.loads(line) for line in (session / "frames.jsonl").read_text().splitlines()]
    assert lines[1]["size"] == [200, 300] and lines[1]["to_video"] == [0.8, 80, 0]
    assert raw[1][:, :70].mean() < 5 and raw[1][:, 90:230].mean() > 30  # black bars beside the photo
    assert "to_video" not in lines[3]


def test_fit_odd_sizes_pad_without_scaling(frames):
    out, place = fit(frames[0][:239, :319], (320, 240))
    assert out.shape == (240, 320, 3) and place.scale == 1.0 and (place.dx, place.dy) == (0, 0)
    assert np.array_equal(out[:239, :319], frames[0][:239, :319])


def test_new_sessions_never_share_a_folder(tmp_path):
    folders = {new_session_dir(tmp_path) for _ in range(3)}  # same second: suffixes -2, -3
    assert len(folders) == 3 and all(p.is_dir() for p in folders)


def test_an_unusable_folder_is_one_clear_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(RecordingError, match=f"cannot record into {blocker}/sessions: Not a directory"):
        check_writable(blocker / "sessions")
    with pytest.raises(RecordingError, match="Not a directory"):
        SessionRecorder(blocker / "sessions", fps=FPS)
    check_writable(tmp_path / "new" / "sessions")  # a missing folder is made
    assert (tmp_path / "new" / "sessions").is_dir() and not list((tmp_path / "new" / "sessions").iterdir())


_WRITER = textwrap.dedent("""
    import sys, resource
    sys.path.insert(0, {root!r})
    from tests.conftest import demo_frames
    from app.drawing import annotate
    from app.pipeline import FrameResult
    from app.recording import RecordingError, SessionRecorder
    limit = {limit}
    if limit:  # a full disk: writes past `limit` bytes per file fail (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    rec = SessionRecorder({out!r}, fps=25)
    frames = demo_frames(40, 480, 360)
    for i in range(100_000):
        frame = frames[i % 40]
        result = FrameResult(i, i / 25, frame)
        try:
            rec.add_frame(frame, i, i / 25)
            rec.add_result(result, annotate(result))
        except RecordingError as exc:
            print("error:", exc, flush=True)
            break
        if i == {signal_at}:
            print("written", flush=True)
""")


def _frames_in(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    count = 0
    while cap.read()[0]:
        count += 1
    return count


@pytest.mark.timeout(120)
def test_files_are_readable_after_kill_9(tmp_path):
    """kill -9 after 1.5 s of video: the MP4s play all but the last fragment (0.5 s) of frames.jsonl."""
    script = _WRITER.format(root=str(ROOT), limit=0, out=str(tmp_path), signal_at=37)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "written"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    (session,) = tmp_path.iterdir()
    lines = (session / "frames.jsonl").read_text().splitlines()
    assert len(lines) >= 38 and all(json.loads(line)["frame"] == i for i, line in enumerate(lines))
    for name in ("raw", "annotated"):
        decoded = _frames_in(session / f"{name}.recording.mp4")
        assert decoded >= len(lines) - 14, (name, decoded, len(lines))  # 0.5 s fragment + 1 frame


@pytest.mark.timeout(120)
def test_a_full_disk_stops_recording_with_one_line_and_keeps_the_files(tmp_path):
    script = _WRITER.format(root=str(ROOT), limit=300_000, out=str(tmp_path), signal_at=-1)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    (session,) = tmp_path.iterdir()
    assert proc.stdout.startswith(f"error: recording into {session} stopped after")
    assert proc.stdout.strip().endswith("File too large") and proc.stdout.count("\n") == 1
    lines = (session / "frames.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(json.loads(line) for line in lines[:-1])  # no line was cut
    names = sorted(p.name for p in session.iterdir())
    assert names == ["annotated.mp4", "frames.jsonl", "raw.mp4", "session.json"]
    raw = _frames_in(session / "raw.mp4")
    meta = json.loads((session / "session.json").read_text())
    assert raw >= 13 and meta["error"].endswith("File too large")
