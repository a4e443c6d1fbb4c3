"""Frame sources: a webcam, a video file, a folder of images, or the built-in demo.

Every source has `read() -> (H, W, 3) uint8 RGB | None`, `close()`, a `name`, a nominal `fps`,
`live` (a camera: frames come at their own pace, and a None means trouble, not the end),
`position` (the number of the frame read last, in the source's own numbering) and `skipped`
(frames or files that could not be read and were passed over). A file source returns None at its
end. Sources are plain objects: the capture thread owns one at a time.

Each frame is a new array that the caller owns: the worker may still be reading one frame while
the next is captured, and reusing a buffer would tear it. (OpenCV allocates per read anyway; the
BGR -> RGB swap is done in place so that is the only allocation.)
"""
from __future__ import annotations

import glob
import logging
import sys
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from dirnet import IMAGE_SUFFIXES, UnreadableImage, read_rgb

__all__ = ["FrameSource", "SourceError", "CameraSource", "VideoSource", "ImageFolderSource",
           "open_source", "open_auto", "list_cameras"]

log = logging.getLogger(__name__)

_CV_LOG_ERROR = 2  # OpenCV's LOG_LEVEL_ERROR (cv2 exports the setter, not the constants)
_MAX_GAP = 250  # failed reads to try through when a video does not know its frame count

class SourceError(OSError):
    """A source could not be opened (no such camera, unreadable file, empty folder)."""


class FrameSource(Protocol):
    name: str
    fps: float
    live: bool
    position: int
    skipped: int

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class CameraSource:
    """A webcam through cv2.VideoCapture.

    Args:
        index: camera index (0 = first).
        width, height, fps: requested mode; the camera picks the nearest it supports.

    Raises:
        SourceError: if the camera does not open or delivers no frame.
    """

    live = True
    skipped = 0

    def __init__(self, index: int, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        self.index = index
        self.position = -1
        self.name = f"camera {index}"
        backend = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        level = cv2.getLogLevel()
        cv2.setLogLevel(_CV_LOG_ERROR)  # no OpenCV warnings per attempt: the error below says it once
        try:
            self._cap = cv2.VideoCapture(index, backend)
        finally:
            cv2.setLogLevel(level)
        if not self._cap.isOpened():
            raise SourceError(f"camera {index} did not open (unplugged or used by another program?)")
        self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        self._cap.set(cv2.CAP_PROP_FPS, fps)
        self._cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # latest frame, not a queue of stale ones
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or fps
        if self.read() is None:
            self.close()
            raise SourceError(f"camera {index} opened but delivered no frame")

    def read(self) -> np.ndarray | None:
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            return None
        self.position += 1
        return _to_rgb(bgr)

    def close(self) -> None:
        self._cap.release()


def _to_rgb(bgr: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)  # in place: no second allocation


class VideoSource:
    """A video file, frame by frame. Frames that fail to decode (a damaged stretch of the file) are
    passed over and counted in `skipped`; `position` follows the file's timestamps, so it stays the
    frame's number in the file across a gap.

    Args:
        path: any file FFmpeg reads.
        loop: start again at the end instead of returning None (the window's default).

    Raises:
        FileNotFoundError: no such file.
        SourceError: the file is not a readable video.
    """

    live = False

    def __init__(self, path: Path, loop: bool = False) -> None:
        self.path = Path(path)
        self.name = self.path.name
        if not self.path.is_file():
            raise FileNotFoundError(f"video {self.path} does not exist")
        self.loop = loop
        self._cap = cv2.VideoCapture(str(self.path))
        if not self._cap.isOpened():
            raise SourceError(f"cannot read video {self.path}")
        self.fps = self._cap.get(cv2.CAP_PROP_FPS) or 25.0
        self.frame_count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, _ = self._cap.read()
        if not ok:
            raise SourceError(f"video {self.path} has no readable frame")
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        self.position = -1
        self.skipped = 0

    def read(self) -> np.ndarray | None:
        bgr = self._next()
        if bgr is None and self.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            self.position = -1
            bgr = self._next()
        return None if bgr is None else _to_rgb(bgr)

    def _next(self) -> np.ndarray | None:
        # A damaged stretch makes read() fail once per lost packet and then go on; only the frames
        # the file still claims to have are worth trying for (the whole gap when the count is unknown).
        remaining = self.frame_count - self.position - 1 if self.frame_count > 0 else _MAX_GAP
        for _ in range(max(remaining, 0) + 1):
            ok, bgr = self._cap.read()
            position = round(self._cap.get(cv2.CAP_PROP_POS_MSEC) * self.fps / 1000.0) if ok else -1
            # a frame stamped before the last one (decoded late out of a damaged stretch) is dropped
            if position > self.position:
                self.skipped += position - self.position - 1
                self.position = position
                return bgr
        return None

    def close(self) -> None:
        self._cap.release()


class ImageFolderSource:
    """The images of a folder in name order, at `fps`. Unreadable files (truncated JPEGs too) are
    skipped with a warning and counted in `skipped`; `position` is the file's index in `files`.

    Raises:
        FileNotFoundError: no such folder.
        SourceError: the folder holds no image.
    """

    live = False

    def __init__(self, path: Path, fps: float = 10.0, loop: bool = False) -> None:
        self.path = Path(path)
        self.name = self.path.name + "/"
        if not self.path.is_dir():
            raise FileNotFoundError(f"image folder {self.path} does not exist")
        self.files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise SourceError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in {self.path}")
        self.fps = fps
        self.loop = loop
        self.skipped = 0
        self.position = -1
        self._next = 0

    def read(self) -> np.ndarray | None:
        for _ in range(len(self.files)):
            if self._next >= len(self.files):
                if not self.loop:
                    return None
                self._next = 0
            path = self.files[self._next]
            self._next += 1
            try:
                frame = read_rgb(path)
            except (UnreadableImage, OSError) as exc:
                self.skipped += 1
                log.warning("skipping %s: %s", path, exc)
                continue
            self.position = self._next - 1
            return frame
        return None

    def close(self) -> None:
        pass


def list_cameras(max_index: int = 8) -> list[int]:
    """Indices of the cameras present (Linux: /dev/video*; elsewhere: those that open).

    Returns:
        Sorted camera indices; empty when there is none.
    """
    if sys.platform.startswith("linux"):
        found = []
        for dev in glob.glob("/dev/video*"):
            suffix = dev[len("/dev/video"):]
            if suffix.isdigit() and int(suffix) < max_index:
                found.append(int(suffix))
        return sorted(found)
    found = []
    for index in range(max_index):
        cap = cv2.VideoCapture(index)
        if cap.isOpened():
            found.append(index)
        cap.release()
    return found


def open_source(spec: str, width: int = 1280, height: int = 720, fps: float = 30.0,
                loop: bool = False) -> FrameSource:
    """Open a source from its command-line spelling.

    Args:
        spec: "demo", a camera index ("0"), a video file or an image folder ("auto": see open_auto).
        width, height, fps: camera mode / demo size; fps also paces image folders.
        loop: file sources restart at their end.

    Raises:
        FileNotFoundError: a path that does not exist.
        SourceError: a camera that does not open, an unreadable video, an empty folder.
    """
    if spec == "auto":
        return open_auto(width, height, fps)[0]
    if spec == "demo":
        from .demo import DemoSource  # imports torch and the hand model: only when asked for

        return DemoSource(width=min(width, 960), height=min(height, 540), fps=min(fps, 25.0))
    if spec.isdigit():
        return CameraSource(int(spec), width, height, fps)
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, fps=fps, loop=loop)
    return VideoSource(path, loop=loop)


def open_auto(width: int = 1280, height: int = 720, fps: float = 30.0) -> tuple[FrameSource, str | None]:
    """The first camera, or the demo when no camera opens.

    Returns:
        (source, message): message says why the demo is shown, None when a camera opened.
    """
    cameras = list_cameras()
    if cameras:
        try:
            return CameraSource(cameras[0], width, height, fps), None
        except SourceError as exc:
            return open_source("demo", width, height, fps), f"{exc}: showing the built-in demo"
    return open_source("demo", width, height, fps), "no camera found: showing the built-in demo"
