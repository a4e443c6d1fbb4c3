"""Session recording: annotated MP4, raw MP4 and frames.jsonl in a new folder per session.

Layout of a session folder `<root>/session-YYYYmmdd-HHMMSS[-N]/` (created exclusively, so a new
session never overwrites an earlier one):

- `raw.mp4`: the frames as captured (un-mirrored), for teacher labelling and fine-tuning later.
- `annotated.mp4`: the same frames with the overlay drawn (`app.drawing.annotate`).
- `frames.jsonl`: one JSON object per recorded frame, flushed as written:
  `{"t": s, "frame": i, "hands": [{"handedness", "box": [cx, cy, size], "joints2d": [[x, y] x 21],
  "joints3d": [[x, y, z] x 21], "loops", "gflops", "var2d": [[vx, vy] x 21], "gesture"}]}`
  with t in seconds since the first recorded frame, i the frame's index in both MP4s, box and
  joints2d in source-frame px, var2d in px^2, joints3d in mm (camera axes, wrist-relative) and
  gesture `{"name", "confidence"}` or null.
- `session.json`: what produced it (source, fps, frame size, settings).

While recording, the videos are fragmented MP4 under `*.recording.ismv` (FFmpeg picks the
fragmenting muxer by that extension, OpenCV offers no other way to set it): after a crash or
kill -9 they stay playable up to the last fragment FFmpeg wrote out (a fragment per key frame,
about every half second, behind FFmpeg's 32 KB write buffer). `close()` renames them to `.mp4`.
frames.jsonl is flushed per line, so it survives to the last frame.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cv2
import numpy as np

from dirnet.io import write_text_atomic
from .pipeline import FrameResult

__all__ = ["SessionRecorder", "frame_record", "new_session_dir"]

_FOURCC = cv2.VideoWriter_fourcc(*"mp4v")
_VIDEOS = ("raw", "annotated")


def new_session_dir(root: Path) -> Path:
    """Create and return a fresh, empty session folder under `root` (made if missing)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("session-%Y%m%d-%H%M%S")
    for n in range(1, 10_000):
        path = root / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            path.mkdir()  # exclusive: fails if it exists, so two sessions never share a folder
            return path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free session folder name under {root}")


def _round(a: np.ndarray, decimals: int) -> list:
    return np.round(np.asarray(a, np.float64), decimals).tolist()


def frame_record(result: FrameResult, frame: int, t: float) -> dict:
    """The frames.jsonl object for one processed frame (see the module docstring)."""
    hands = []
    for h in result.hands:
        hands.append({
            "handedness": h.handedness,
            "box": _round(h.box.as_list(), 2),
            "joints2d": _round(h.joints2d, 2),
            "joints3d": _round(h.joints3d, 2),
            "loops": int(h.pose.loops),
            "gflops": round(float(h.pose.gflops), 4),
            "var2d": _round(h.var2d, 3),
            "gesture": ({"name": h.gesture.name, "confidence": round(h.gesture.confidence, 3)}
                        if h.gesture else None),
        })
    return {"t": round(float(t), 4), "frame": int(frame), "hands": hands}


class SessionRecorder:
    """Writes one session; call `write` per processed frame and `close` at the end.

    Args:
        root: folder under which the session folder is created.
        fps: frame rate written into the MP4s (the source's nominal rate).
        info: extra JSON-able facts for session.json (source, settings, ...).

    Raises:
        OSError: if the session folder cannot be created.
    """

    def __init__(self, root: Path, fps: float, info: dict | None = None) -> None:
        self.root = Path(root)
        self.fps = fps if fps and fps > 0 else 30.0
        self.info = dict(info or {})
        self.path = new_session_dir(self.root)
        self.frames = 0
        self._writers: dict[str, cv2.VideoWriter] = {}
        self._size: tuple[int, int] | None = None
        self._t0: float | None = None
        self._jsonl = open(self.path / "frames.jsonl", "w", buffering=1)  # line-buffered

    def _open_videos(self, width: int, height: int) -> None:
        self._size = (width, height)
        for name in _VIDEOS:
            writer = cv2.VideoWriter(str(self.path / f"{name}.recording.ismv"), _FOURCC, self.fps,
                                     (width, height))
            if not writer.isOpened():
                raise OSError(f"cannot write {name} video in {self.path}")
            self._writers[name] = writer
        meta = {**self.info, "fps": self.fps, "width": width, "height": height,
                "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
        write_text_atomic(self.path / "session.json", json.dumps(meta, indent=1))

    def write(self, result: FrameResult, annotated: np.ndarray) -> None:
        """Append one frame to the three files.

        Args:
            result: the processed frame (its .frame is the raw RGB image).
            annotated: (H, W, 3) uint8 RGB, the un-mirrored overlay image of the same frame.

        Raises:
            ValueError: if the frame size differs from the session's first frame (start a new
                session for a new source).
        """
        height, width = result.frame.shape[:2]
        if self._size is None:
            self._open_videos(width, height)
            self._t0 = result.t
        elif self._size != (width, height):
            raise ValueError(f"frame size {width}x{height} differs from the session's {self._size}")
        self._writers["raw"].write(cv2.cvtColor(result.frame, cv2.COLOR_RGB2BGR))
        self._writers["annotated"].write(cv2.cvtColor(annotated, cv2.COLOR_RGB2BGR))
        self._jsonl.write(json.dumps(frame_record(result, self.frames, result.t - self._t0)) + "\n")
        self._jsonl.flush()
        self.frames += 1

    def close(self) -> None:
        """Finalise: close the videos and give them their .mp4 names. Safe to call twice."""
        for name, writer in self._writers.items():
            writer.release()
            os.replace(self.path / f"{name}.recording.ismv", self.path / f"{name}.mp4")
        self._writers.clear()
        if not self._jsonl.closed:
            self._jsonl.close()

    def __enter__(self) -> "SessionRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

