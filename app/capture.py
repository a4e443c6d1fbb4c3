"""CaptureThread: owns the frame source, reads frames at their pace and emits them.

Opening a source happens in this thread too (a camera can take a second to open). A camera that
stops delivering is closed and re-opened every second until it comes back; a video file loops.
A new source that fails to open leaves the one playing untouched, so the window never goes dark
because of a typo, and the error says what is still shown.
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
        notice(message): what plays is not what was asked for (no camera: the demo); emitted
            after its source_opened and true until the next one.
        status(message): something the user may want to know (camera back, end of file).
        fps_updated(fps): frames read per second, once a second.
    """

    frame_ready = pyqtSignal(object, float, int)
    source_opened = pyqtSignal(str, float)
    errored = pyqtSignal(str)
    notice = pyqtSignal(str)
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
        self._paused = False
        self._source: FrameSource | None = None
        self._current: SourceRequest | None = None  # what to re-open when a camera drops out

    def open(self, spec: str, width: int = 1280, height: int = 720, fps: float = 30.0) -> None:
        """Switch to a new source (opened in the thread); starts the thread on first use."""
        with QMutexLocker(self._mutex):
            self._request = (spec, width, height, fps)
            self._wake.wakeOne()
        if not self.isRunning():
            self.start()

    def set_paused(self, paused: bool) -> None:
        """Stop reading frames (a file keeps its place, a camera's frames are skipped) or resume."""
        with QMutexLocker(self._mutex):
            self._paused = paused
            self._wake.wakeOne()

    def is_paused(self) -> bool:
        with QMutexLocker(self._mutex):
            return self._paused

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
        """Sleep, but wake at once for a new request, a pause change or stop."""
        with QMutexLocker(self._mutex):
            if self._request is None and not self._abort:
                self._wake.wait(self._mutex, max(1, int(seconds * 1000)))

    def _open(self, request: SourceRequest) -> FrameSource | None:
        """Open a requested source; on failure say why (and what still plays) and return None."""
        spec, width, height, fps = request
        if self._source is not None and spec == str(getattr(self._source, "index", "")):
            self._close()  # the same camera in a new mode: the device must be free to re-open
        message = None
        try:
            if spec == "auto":
                source, message = open_auto(width, height, fps)
            else:
                source = self._opener(spec, width, height, fps, loop=True)
        except Exception as exc:  # noqa: BLE001 - (cv2.error too) a bad source must never end the capture thread
            still = f"; still showing {self._source.name}" if self._source is not None else ""
            self.errored.emit(f"{exc}{still}")
            return None
        self._close()
        self._source = source
        # what to re-open if it drops out: the camera auto picked, or the request itself
        self._current = (str(source.index), width, height, fps) if isinstance(source, CameraSource) else request
        self.source_opened.emit(source.name, float(source.fps))
        if message:
            self.notice.emit(message)
        return source

    def run(self) -> None:
        index = 0
        count, count_since = 0, time.monotonic()
        next_due = time.monotonic()
        while True:
            request, abort = self._take_request()
            if abort:
                break
            if request is not None:
                if self._open(request) is not None:
                    index, next_due = 0, time.monotonic()
                elif self._source is None:
                    # nothing plays: keep retrying a camera (it may be plugged in), not a bad file
                    self._current = request if request[0].isdigit() else None
                    self._sleep(_RETRY_S)
                continue
            if self.is_paused():
                self._sleep(_RETRY_S)  # woken at once by set_paused, open or stop
                continue
            if self._source is None:
                if self._current is not None and self._reopen():  # a camera is back
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

    def _reopen(self) -> bool:
        """Try the dropped (or not yet plugged-in) camera again; each failure is reported."""
        spec, width, height, fps = self._current
        try:
            self._source = self._opener(spec, width, height, fps, loop=True)
        except Exception as exc:  # noqa: BLE001 - same as _open: report, keep the thread alive
            self.errored.emit(str(exc))
            return False
        self.source_opened.emit(self._source.name, float(self._source.fps))
        return True

    def _read(self) -> np.ndarray | None:
        try:
            frame = self._source.read()
        except Exception as exc:  # noqa: BLE001 - a driver or decoder error: report it and treat as no frame
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
