"""Frame sources on files the tests write, the demo, and clear errors for bad input."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from app.demo import DemoSource
from app.sources import CameraSource, ImageFolderSource, SourceError, VideoSource, open_source
from tests.conftest import shared_path


def _write_video(path, n=6, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 20, size)
    for i in range(n):
        frame = np.zeros((size[1], size[0], 3), np.uint8)
        frame[..., 2] = 200  # red in BGR
        frame[:, :8] = i * 40
        writer.write(frame)
    writer.release()


def test_video_source_gives_rgb_frames_then_none_or_loops(tmp_path):
    path = tmp_path / "clip.mp4"
    _write_video(path)
    src = open_source(str(path))
    assert isinstance(src, VideoSource) and src.fps == pytest.approx(20) and not src.live
    frames = [src.read() for _ in range(6)]
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert frames[0][20, 40, 0] > 150 and frames[0][20, 40, 2] < 60  # converted to RGB
    assert frames[0] is not frames[1]  # each frame is the caller's own array
    assert src.read() is None
    looping = VideoSource(path, loop=True)
    assert all(looping.read() is not None for _ in range(15))


def test_missing_or_unreadable_video_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        open_source(str(tmp_path / "nope.mp4"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(SourceError, match="bad.mp4"):
        open_source(str(bad))


def test_image_folder_skips_unreadable_files_and_refuses_empty_folders(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"{i}.png"), np.full((20, 30, 3), 50 * i, np.uint8))
    (tmp_path / "1b.jpg").write_bytes(b"broken")
    (tmp_path / "notes.txt").write_text("ignored")
    src = open_source(str(tmp_path), fps=5)
    assert isinstance(src, ImageFolderSource) and len(src.files) == 4
    frames = [src.read() for _ in range(3)]
    assert [int(f[0, 0, 0]) for f in frames] == [0, 50, 100] and src.skipped == 1
    assert src.read() is None
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        open_source(str(empty))


def test_a_camera_that_is_not_there_says_so():
    with pytest.raises(SourceError, match="camera 63"):
        CameraSource(63)


def test_demo_animates_the_hand_over_a_background():
    demo = DemoSource(width=320, height=240, fps=25)
    first = demo.read()
    later = [demo.read() for _ in range(10)][-1]
    assert first.shape == (240, 320, 3) and first is not later
    assert np.abs(first.astype(int) - later.astype(int)).mean() > 0.5  # it moves
    skin = (first[..., 0] > first[..., 2] + 40)  # reddish skin on a blue-grey background
    assert 0.01 < skin.mean() < 0.5


def test_a_damaged_stretch_of_video_is_skipped_and_counted(tmp_path):
    """The real clip with 100 KB zeroed a third of the way in: reading goes on past the damage."""
    damaged = tmp_path / "damaged.mp4"
    data = bytearray(shared_path("data", "asl_video", "asl_hand.25fps.mp4").read_bytes())
    data[len(data) // 3:len(data) // 3 + 100_000] = bytes(100_000)
    damaged.write_bytes(bytes(data))
    src = VideoSource(damaged)
    positions = []
    while src.read() is not None:
        positions.append(src.position)
    assert len(positions) > 200 and positions[-1] == src.frame_count - 1  # read to the very end
    assert positions == sorted(set(positions)) and positions[:90] == list(range(90))
    assert src.skipped == src.frame_count - len(positions) > 0  # every lost frame counted once


def test_truncated_jpegs_are_skipped_like_other_unreadable_files(tmp_path):
    photo = np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)
    whole = cv2.imencode(".jpg", photo)[1].tobytes()
    (tmp_path / "a.jpg").write_bytes(whole)
    (tmp_path / "b.jpg").write_bytes(whole[:len(whole) // 2])  # a cut-off download
    src = ImageFolderSource(tmp_path)
    assert src.read().shape == (60, 80, 3) and src.position == 0
    assert src.read() is None and src.skipped == 1
    assert cv2.imread(str(tmp_path / "b.jpg")) is not None  # OpenCV alone would take it as whole
