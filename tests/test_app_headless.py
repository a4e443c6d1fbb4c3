"""`main.py --headless` as a user runs it: bad inputs give one line and a meaningful exit status,
signals are told apart from a finished run, and recordings survive size changes and a full disk."""
from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import av
import cv2

from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]


def _main(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--headless", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, **kwargs)


def _run(*args, **kwargs) -> tuple[int, str, str]:
    proc = _main(*args, **kwargs)
    out, err = proc.communicate(timeout=300)
    return proc.returncode, out, err


def _problems(stderr: str) -> list[str]:
    """stderr without the C++ libraries' own log lines (MediaPipe/TFLite)."""
    return [line for line in stderr.splitlines()
            if line and not line.startswith(("INFO:", "WARNING: All log", "W0000", "I0000"))]


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_an_absent_camera_is_waited_for_once_then_given_up():
    code, out, err = _run("--source", "63", "--camera-wait", "1")
    lines = _problems(err)
    assert code == 1 and len(lines) == 2 and "Traceback" not in err, err
    assert lines[0].startswith("camera 63 did not open")
    assert "waiting for it up to 1 s (Ctrl+C to stop" in lines[0]
    assert lines[1] == "gave up: camera 63 did not come within 1 s"


def test_ctrl_c_while_waiting_for_a_camera_exits_130_without_a_traceback():
    proc = _main("--source", "63", "--camera-wait", "0")
    assert "waiting for it until Ctrl+C" in proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.strip() == "interrupted", err


def test_an_unusable_record_folder_is_refused_before_anything_loads(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, out, err = _run("--source", "demo", "--record", blocker / "sessions")
    assert code == 2 and out == "" and err == f"cannot record into {blocker}/sessions: Not a directory\n"


def test_a_folder_of_only_unreadable_images_fails(tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    (tmp_path / "b.png").write_bytes(b"")
    code, out, err = _run("--source", tmp_path)
    assert code == 1 and "Traceback" not in err, err
    assert _problems(err)[-1] == f"nothing could be read from {tmp_path.name}/ (2 unreadable files)"


def test_sigterm_finalises_the_recording_and_exits_143(tmp_path):
    proc = _main("--source", "demo", "--resolution", "320x240", "--record", tmp_path)
    assert proc.stdout.readline().startswith("recording into")
    assert proc.stdout.readline().startswith("[")  # a status line: frames are being recorded
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "interrupted" in err and "Traceback" not in err, err
    (session,) = tmp_path.iterdir()
    lines = (session / "frames.jsonl").read_text().splitlines()
    assert _frames(session / "raw.mp4") == len(lines) > 0
    assert json.loads((session / "session.json").read_text())["ended"]


def test_mixed_size_photos_and_a_truncated_one_record_into_one_session(tmp_path):
    photos = sorted(shared_path("data", "hand_photos", "asl_letters").glob("*.jpg"))
    folder = tmp_path / "photos"
    folder.mkdir()
    sizes = {}
    for photo in photos:  # three photos of different sizes
        size = cv2.imread(str(photo)).shape[:2]
        if size not in sizes.values():
            sizes[photo] = size
            (folder / photo.name).write_bytes(photo.read_bytes())
        if len(sizes) == 3:
            break
    assert len(sizes) == 3, "asl_letters has fewer than three photo sizes"
    data = photos[-1].read_bytes()
    (folder / "zz-cut.jpg").write_bytes(data[:len(data) // 2])
    code, out, err = _run("--source", folder, "--record", tmp_path / "sessions")
    assert code == 0 and "Traceback" not in err, err
    assert _problems(err)[-1] == "photos/: skipped 1 unreadable files"
    (session,) = (tmp_path / "sessions").iterdir()
    lines = [json.loads(x) for x in (session / "frames.jsonl").read_text().splitlines()]
    assert [x["frame"] for x in lines] == [0, 1, 2] and _frames(session / "raw.mp4") == 3
    assert sorted(tuple(x["size"][::-1]) for x in lines) == sorted(sizes.values())
    assert any("to_video" in x for x in lines)  # the later sizes were fitted into the first


def _limit_file_size(limit: int):
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_a_full_disk_stops_the_recording_but_not_the_tracking(tmp_path):
    code, out, err = _run("--source", "demo", "--max-frames", "40", "--record", tmp_path,
                          preexec_fn=_limit_file_size(150_000))
    (session,) = tmp_path.iterdir()
    problems = [line for line in _problems(err) if "recording" in line]
    assert code == 1 and "Traceback" not in err and "done: 40 frames" in out, err
    assert len(problems) == 1 and problems[0].startswith(f"recording into {session} stopped after")
    assert problems[0].endswith("File too large")
    lines = (session / "frames.jsonl").read_text().splitlines()
    assert 0 < len(lines) < 40 and all(json.loads(line) for line in lines)
    assert _frames(session / "raw.mp4") >= min(len(lines), 13)  # the fragments written before stay
