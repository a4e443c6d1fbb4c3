"""FragmentedMP4: an H.264 video written as fragmented MP4, with capture timestamps, through PyAV.

Why not cv2.VideoWriter: it cannot set timestamps (a video that skips or repeats frames plays at the
wrong speed), and its FFmpeg build writes the file in 256 KiB steps with no way to flush, so a
kill -9 lost the first seconds (docs/APP.md). Here the muxer starts a new fragment every
FRAGMENT_S seconds of video and flushes the file after each one ("flush_packets"), so a killed
process leaves a file that plays up to the last fragment written.
"""
from __future__ import annotations

import contextlib
import errno
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import av  # imported where a video is written: at start-up PyAV delayed the window's first frame

__all__ = ["FragmentedMP4", "VideoWriteError", "FRAGMENT_S"]

FRAGMENT_S = 0.5
_TIME_BASE = Fraction(1, 1000)  # timestamps in ms
# ultrafast + zerolatency: ~13 ms a 620x1080 frame on a busy 2-core CPU, and no lookahead queue
# holding frames back from the next fragment (docs/APP.md).
_X264 = {"preset": "ultrafast", "tune": "zerolatency", "crf": "23"}


class VideoWriteError(OSError):
    """The video could not be created or written (e.g. disk full, folder gone)."""

    @classmethod
    def from_error(cls, exc: Exception) -> "VideoWriteError":
        """Keep FFmpeg's errno and reason ("File too large"), without PyAV's repeat of the path."""
        return cls(getattr(exc, "errno", None) or errno.EIO, getattr(exc, "strerror", None) or str(exc))


class FragmentedMP4:
    """One video track. Width and height must be even (H.264's 4:2:0 sampling).

    Args:
        path: the file to write (any name; the format is always MP4).
        width, height: frame size in px.
        fps: nominal rate (a hint for players; the timestamps given to write() rule).

    Raises:
        VideoWriteError: the file cannot be created.
    """

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        if width % 2 or height % 2:
            raise ValueError(f"video size must be even, got {width}x{height}")
        self.path = Path(path)
        self.frames = 0
        self._last_pts = -1
        self._last_frame: av.VideoFrame | None = None
        import av

        try:
            self._container = av.open(str(self.path), "w", format="mp4", options={
                "movflags": "empty_moov+default_base_moof",
                "frag_duration": str(int(FRAGMENT_S * 1e6)), "flush_packets": "1"})
            self._stream = self._container.add_stream("libx264", rate=round(fps) or 30, options=_X264)
            self._stream.width, self._stream.height, self._stream.pix_fmt = width, height, "yuv420p"
            self._stream.codec_context.time_base = _TIME_BASE
        except (OSError, av.FFmpegError) as exc:
            raise VideoWriteError.from_error(exc) from None

    def write(self, image: np.ndarray | None, t: float) -> None:
        """Append a frame shown from `t` seconds on (t must grow; equal times are nudged by 1 ms).

        Args:
            image: (H, W, 3) uint8 RGB of the writer's size, or None to repeat the previous frame.

        Raises:
            VideoWriteError: the write failed; the file stays readable up to the last fragment.
        """
        import av

        if image is not None:
            self._last_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        if self._last_frame is None:
            raise ValueError("no frame to repeat yet")
        frame = self._last_frame
        frame.pts = self._last_pts = max(round(t * 1000), self._last_pts + 1)
        frame.time_base = _TIME_BASE
        self._mux(frame)
        self.frames += 1

    def _mux(self, frame: av.VideoFrame) -> None:
        import av

        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except (OSError, av.FFmpegError) as exc:
            raise VideoWriteError.from_error(exc) from None

    def close(self) -> None:
        """Flush the encoder and finish the file. Safe to call twice.

        Raises:
            VideoWriteError: the last fragment could not be written (the earlier ones stay).
        """
        if self._container is None:
            return
        container, self._container = self._container, None
        import av

        try:
            for packet in self._stream.encode(None):
                container.mux(packet)
            container.close()
        except (OSError, av.FFmpegError) as exc:
            with contextlib.suppress(OSError, av.FFmpegError):
                container.close()  # free it all the same; the error below says what went wrong
            raise VideoWriteError.from_error(exc) from None
