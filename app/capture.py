"""CaptureThread: owns the frame source, reads frames at their pace and emits them.

Opening a source happens in this thread too (a camera can take a second to open). A camera that
stops delivering is closed and re-opened every second until it comes back; a video file loops.
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np
from PyQt6.QtCore import QMutex, QMutexLocker, QThread, QWaitCondition, pyqtSignal

from .sources import CameraSource, FrameSource, open_auto, open_source

__all__ = ["CaptureThread"]

_RETRY_S = 1.0

SourceRequest = tuple[str, int, int, float]  # (spec, width, height, fps) as given to open()


class CaptureThread(QThread):
    """Reads frames from one source at a time.

    Signals:
        frame_ready(frame, t, index): (H, W, 3) uint8 RGB, capture time (s), frame number.
        source_opened(name, fps): a new source delivers frames.
        errored(message): the source failed (not found, unplugged, unreadable); it keeps trying
            for cameras.
        status(message): something the user may want to know (camera back, end of file).
        fps_updated(fps): frames read per second, once a second.
    """

    frame_ready = pyqtSignal(object, float, int)
    source_opened = pyqtSignal(str, float)
    errored = pyqtSignal(str)
    status = pyqtSignal(str)
    fps_updated = pyqtSignal(float)

    def __init__(self, parent=None, opener: Callable[..., FrameSource] = open_source) -> None:
        """`opener(spec, width, height, fps, loop=True)` opens every source but "auto"; the default
        is app.sources.open_source (a test passes its own to stand in for camera hardware)."""
        super().__init__(parent)
        self._opener = opener
        self._mutex = QMutex()
        self._wake = QWaitCondition()
        self._request: SourceRequest | None = None
        self._abort = False
        self._source: FrameSource | None = None
        self._current: SourceRequest | None = None  # what to re-open when a camera drops out

    def open(self, spec: str, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        """Switch to a new source (opened in the thread); starts the thread on first use."""
        with QMutexLocker(self._mutex):
            self._request = (spec, width, height, fps)
            self._wake.wakeOne()
        if not self.isRunning():
            self.start()

    def stop(self) -> None:
        """Ask the thread to finish and wait for it (up to 10 s: opening a source can be slow)."""
        with QMutexLocker(self._mutex):
            self._abort = True
            self._wake.wakeOne()
        self.wait(10_000)

    def _take_request(self) -> tuple[SourceRequest | None, bool]:
        with QMutexLocker(self._mutex):
            request, self._request = self._request, None
            return request, self._abort

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once for a new request or stop."""
        with QMutexLocker(self._mutex):
            if self._request is None and not self._abort:
                self._wake.wait(self._mutex, max(1, int(seconds * 1000)))

    def _open(self, request: SourceRequest) -> bool:
        spec, width, height, fps = request
        try:
            if spec == "auto":
                self._source, message = open_auto(width, height, fps)
                if message:
                    self.errored.emit(message)
                if isinstance(self._source, CameraSource):  # if it drops out, wait for it
                    self._current = (str(self._source.index), width, height, fps)
            else:
                self._source = self._opener(spec, width, height, fps, loop=True)
        except Exception as exc:  # (cv2.error too) a bad source must never end the capture thread
            self._source = None
            self.errored.emit(str(exc))
            return False
        self.source_opened.emit(self._source.name, float(self._source.fps))
        return True

    def run(self) -> None:
        index = 0
        count, count_since = 0, time.monotonic()
        next_due = time.monotonic()
        while True:
            request, abort = self._take_request()
            if abort:
                break
            if request is not None:
                self._close()
                self._current, index = request, 0
                if not self._open(request):
                    if not request[0].isdigit():
                        self._current = None  # a bad file stays bad; wait for the next request
                    self._sleep(_RETRY_S)
                    continue
                next_due = time.monotonic()
            if self._source is None:
                if self._current is not None and self._open(self._current):  # a camera is back
                    self.status.emit(f"{self._source.name} is back")
                else:
                    self._sleep(_RETRY_S)
                continue
            frame = self._read()
            if frame is None:
                continue
            now = time.monotonic()
            self.frame_ready.emit(frame, now, index)
            index += 1
            count += 1
            if now - count_since >= 1.0:
                self.fps_updated.emit(count / (now - count_since))
                count, count_since = 0, now
            if not self._source.live:  # pace files at their own frame rate
                next_due = max(next_due + 1.0 / self._source.fps, now - 0.5)
                self._sleep(next_due - time.monotonic())
        self._close()

    def _read(self) -> np.ndarray | None:
        try:
            frame = self._source.read()
        except Exception as exc:  # a driver or decoder error: report it and treat as no frame
            frame, message = None, f"{self._source.name}: {type(exc).__name__}: {exc}"
        else:
            message = f"{self._source.name} stopped delivering frames; retrying every second"
        if frame is None:
            if self._source.live:
                self.errored.emit(message)
                self._close()
                self._sleep(_RETRY_S)
            else:
                self.status.emit(f"{self._source.name}: end of stream")
                self._current = None
                self._close()
        return frame

    def _close(self) -> None:
        if self._source is not None:
            self._source.close()
            self._source = None
