"""Session recording: raw and annotated MP4s, frames.jsonl and session.json in a new folder per session.

Layout of a session folder `<root>/session-YYYYmmdd-HHMMSS[-N]/` (created exclusively, so a new
session never overwrites an earlier one):

- `raw.mp4`: EVERY captured frame (un-mirrored), at its capture time, for teacher labelling and
  fine-tuning later.
- `annotated.mp4`: one frame per raw frame, at the same times, with the overlay
  (`app.drawing.annotate`). The window processes only the newest frame, so a capture frame that
  was never processed repeats the last overlay: the video plays in real time.
- `frames.jsonl`: one JSON object per processed frame (see `frame_record`), written whole or not
  at all.
- `session.json`: source, weights, versions, video size, the settings used and every change to
  them with the frame it took effect on; rewritten atomically when something changes.

Feed a session with `add_frame` for every captured frame and `add_result` for every processed one.
Frames of another size than the session's first are scaled and padded into it (`fit`), so a folder
of mixed-size photos or a camera that comes back at another resolution keeps one session.

While recording, the videos are `*.recording.mp4` (fragmented MP4, `app.mp4`): after a crash or
kill -9 they play up to the last fragment (about 0.5 s), and frames.jsonl is complete to its last
line. `close()` renames them to `.mp4`. A write error (disk full) raises RecordingError once,
after finalising what was written: the files stay readable, no line is cut.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from dirnet import write_text_atomic
from .mp4 import FragmentedMP4
from .pipeline import FrameResult

__all__ = ["SessionRecorder", "RecordingError", "Placement", "fit", "frame_record",
           "new_session_dir", "check_writable"]

_VIDEOS = ("raw", "annotated")


class RecordingError(OSError):
    """Recording cannot start or go on; the message is one line for the user."""


def check_writable(root: Path) -> None:
    """Make `root` if needed and prove a file can be written there (before loading the model).

    Raises:
        RecordingError: naming the folder and the reason.
    """
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise RecordingError(f"cannot record into {root}: {exc.strerror or exc}") from None


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


@dataclass(frozen=True)
class Placement:
    """Where a source frame sits in the session's video: video px = scale * frame px + (dx, dy)."""

    scale: float = 1.0
    dx: int = 0
    dy: int = 0

    @property
    def identity(self) -> bool:
        return self.scale == 1.0 and self.dx == 0 and self.dy == 0


def fit(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Placement]:
    """Shrink `image` to fit `size` (width, height) if it is larger, keeping its aspect, and centre
    it on black (never enlarged: a smaller frame keeps its pixels)."""
    height, width = image.shape[:2]
    out_w, out_h = size
    if (width, height) == (out_w, out_h):
        return image, Placement()
    scale = min(out_w / width, out_h / height, 1.0)
    new_w, new_h = max(1, min(out_w, round(width * scale))), max(1, min(out_h, round(height * scale)))
    dx, dy = (out_w - new_w) // 2, (out_h - new_h) // 2
    out = np.zeros((out_h, out_w, 3), np.uint8)
    if (new_w, new_h) == (width, height):
        out[dy:dy + height, dx:dx + width] = image
    else:
        out[dy:dy + new_h, dx:dx + new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    return out, Placement(scale if (new_w, new_h) != (width, height) else 1.0, dx, dy)


def _round(a: np.ndarray, decimals: int) -> list:
    return np.round(np.asarray(a, np.float64), decimals).tolist()


def frame_record(result: FrameResult, frame: int, t: float, placement: Placement = Placement()) -> dict:
    """The frames.jsonl object for one processed frame.

    `{"frame": i, "source_frame": n, "t": s, "size": [w, h], ["to_video": [scale, dx, dy],]
    "hands": [{"handedness", "box": [cx, cy, size], "joints2d": [[x, y] x 21],
    "joints3d": [[x, y, z] x 21], "loops", "gflops", "var2d": [[vx, vy] x 21], "gesture"}]}`:
    i is the frame's index in both MP4s, n its number in the source (capture order), t its capture
    time in seconds since the session's first frame, size the source frame's; to_video appears
    only when the frame was scaled/padded into the video. box and joints2d are source-frame px,
    var2d px^2, joints3d mm (camera axes, wrist-relative), gesture `{"name", "confidence"}` or null.
    """
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
    height, width = result.frame.shape[:2]
    record = {"frame": int(frame), "source_frame": int(result.index), "t": round(float(t), 4),
              "size": [width, height]}
    if not placement.identity:
        record["to_video"] = [round(placement.scale, 6), placement.dx, placement.dy]
    record["hands"] = hands
    return record


class _JsonLines:
    """An append-only JSON-lines file whose lines are whole: a failed write is cut back."""

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._size = 0

    def write(self, obj: dict) -> None:
        data = memoryview((json.dumps(obj) + "\n").encode())
        written = 0
        try:
            while written < len(data):  # one write() in practice: kill -9 never leaves half a line
                written += os.write(self._fd, data[written:])
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)  # no half line after a full disk
            raise
        self._size += len(data)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@dataclass
class _Pending:
    """A raw frame still waiting for its overlay in annotated.mp4."""

    frame: int  # index in the videos
    t: float  # seconds since the session's first frame
    placement: Placement


class SessionRecorder:
    """Writes one session (see the module docstring).

    Args:
        root: folder under which the session folder is created.
        fps: the source's nominal rate (a hint in the MP4s; frame times come from capture).
        info: facts for session.json (source, weights, versions, ...).
        settings: the tracking settings in use at the start (JSON-able, thresholds resolved).

    Raises:
        RecordingError: the session folder or its files cannot be created.
    """

    def __init__(self, root: Path, fps: float, info: dict | None = None,
                 settings: dict | None = None) -> None:
        self.root = Path(root)
        self.fps = fps if fps and fps > 0 else 30.0
        self.info = dict(info or {})
        self.frames = 0  # frames in the videos
        self.results = 0  # lines in frames.jsonl
        self.error: str | None = None
        self._videos: dict[str, FragmentedMP4] = {}
        self._size: tuple[int, int] | None = None
        self._t0: float | None = None
        self._pending: dict[int, _Pending] = {}  # by source frame number, in capture order
        self._initial = dict(settings or {})
        self._settings = dict(self._initial)
        self._changes: list[dict] = []
        self._closed = False
        self._started = time.strftime("%Y-%m-%dT%H:%M:%S")
        try:
            self.path = new_session_dir(self.root)
            self._jsonl = _JsonLines(self.path / "frames.jsonl")
            self._write_meta()
        except OSError as exc:
            raise RecordingError(f"cannot record into {self.root}: {exc.strerror or exc}") from None

    def add_frame(self, frame: np.ndarray, index: int, t: float) -> None:
        """Append a captured frame to raw.mp4.

        Args:
            frame: (H, W, 3) uint8 RGB as captured.
            index: its number in the source (what FrameResult.index will say).
            t: capture time, seconds (any origin; differences matter).

        Raises:
            RecordingError: a write failed; the session is finalised and stops.
        """
        with self._guard():
            if self._size is None:
                self._open_videos(frame.shape[1], frame.shape[0])
                self._t0 = t
            image, placement = fit(frame, self._size)
            self._videos["raw"].write(image, t - self._t0)
            self._pending[index] = _Pending(self.frames, t - self._t0, placement)
            self.frames += 1

    def add_result(self, result: FrameResult, annotated: np.ndarray, settings: dict | None = None) -> bool:
        """Add the overlay and the frames.jsonl line of a processed frame.

        Args:
            result: the processed frame; result.index names a frame given to add_frame.
            annotated: (H, W, 3) uint8 RGB, the un-mirrored overlay image of it.
            settings: the settings it was processed with; a change is logged in session.json.

        Returns:
            False when the frame is not part of this session (captured before it started).

        Raises:
            RecordingError: a write failed; the session is finalised and stops.
        """
        if result.index not in self._pending:
            return False
        with self._guard():
            image = fit(annotated, self._size)[0]
            writer = self._videos["annotated"]
            for index in [i for i in self._pending if i <= result.index]:
                pending = self._pending.pop(index)
                # skipped frames repeat the last overlay (before the first one, they show this one)
                writer.write(image if index == result.index or not writer.frames else None, pending.t)
            if settings is not None and settings != self._settings:
                changed = {k: v for k, v in settings.items() if self._settings.get(k) != v}
                self._changes.append({"frame": pending.frame, "t": round(pending.t, 4), "set": changed})
                self._settings = dict(settings)
                self._write_meta()
            self._jsonl.write(frame_record(result, pending.frame, pending.t, pending.placement))
            self.results += 1
        return True

    def close(self) -> None:
        """Finalise: pad annotated.mp4 to raw's length, close both, give them their .mp4 names,
        and write the final session.json. Safe to call twice; a no-op after a failure.

        Raises:
            RecordingError: the last fragment or session.json could not be written (the files
                keep what was written before).
        """
        if self._closed or self.error is not None:
            return
        with self._guard():
            writer = self._videos.get("annotated")
            for pending in self._pending.values():  # frames after the last processed one
                if writer is not None and writer.frames:
                    writer.write(None, pending.t)
            self._pending.clear()
            self._finish(ended=time.strftime("%Y-%m-%dT%H:%M:%S"))

    def _finish(self, **meta) -> None:
        """Close every file, keeping the first error; rename the videos; final session.json."""
        self._closed = True
        first: OSError | None = None
        for name, writer in self._videos.items():
            try:
                writer.close()
            except OSError as exc:
                first = first or exc
            with contextlib.suppress(OSError):
                os.replace(writer.path, self.path / f"{name}.mp4")
        self._videos.clear()
        self._jsonl.close()
        try:
            self._write_meta(**meta)
        except OSError as exc:
            first = first or exc
        if first is not None:
            raise first

    @contextlib.contextmanager
    def _guard(self):
        """Turn any write failure into one RecordingError, after saving what can be saved."""
        if self.error is not None:
            raise RecordingError(self.error)
        try:
            yield
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self.error = f"recording into {self.path} stopped after {self.frames} frames: {reason}"
            with contextlib.suppress(OSError):
                self._finish(ended=time.strftime("%Y-%m-%dT%H:%M:%S"), error=self.error)
            raise RecordingError(self.error) from None

    def _open_videos(self, width: int, height: int) -> None:
        self._size = (width + width % 2, height + height % 2)  # H.264 wants even sizes
        for name in _VIDEOS:
            self._videos[name] = FragmentedMP4(self.path / f"{name}.recording.mp4", *self._size, self.fps)
        self._write_meta()

    def _write_meta(self, **extra) -> None:
        width, height = self._size or (None, None)
        meta = {**self.info, "fps_nominal": self.fps, "width": width, "height": height,
                "started": self._started, "frames": self.frames, "results": self.results,
                "settings": self._initial, "changes": self._changes, **extra}
        write_text_atomic(self.path / "session.json", json.dumps(meta, indent=1))

    def __enter__(self) -> "SessionRecorder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
