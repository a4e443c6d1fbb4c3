"""Messages: how the window tells the user things.

A problem shows in a red banner above the video for a while (and once on stderr); a standing
notice, such as "no camera found: showing the built-in demo", shows in an amber banner until the
source changes; passing news goes to the status bar.
"""
from __future__ import annotations

import sys
import time

from PyQt6.QtWidgets import QStatusBar

from .panels.video import VideoPanel

__all__ = ["Messages"]

_BANNER_S = 10.0  # an error stays above the video this long unless it repeats
_STATUS_MS = 5000


class Messages:
    """The banner above `video` and the window's status `bar`. Call `expire()` now and then."""

    def __init__(self, video: VideoPanel, bar: QStatusBar) -> None:
        self.video = video
        self.bar = bar
        self.last_error = ""
        self._error_until = 0.0
        self._notice = ""
        self._source_error = ""  # the last source failure: cleared when a source opens

    def error(self, message: str) -> None:
        """Show a problem above the video and, once per distinct message, on stderr."""
        if message != self.last_error:
            print(message, file=sys.stderr)
        self.last_error = message
        self._error_until = time.monotonic() + _BANNER_S
        self._update_banner()
        self.bar.showMessage(message, int(_BANNER_S * 1000))

    def source_error(self, message: str) -> None:
        """A source failed: an error that the next source to open clears."""
        self._source_error = message
        self.error(message)

    def notice(self, message: str) -> None:
        print(message, file=sys.stderr)
        self._notice = message
        self._update_banner()

    def source_opened(self) -> None:
        """A source plays: its notice and its failure are over (other errors, e.g. weights, stay up)."""
        self._notice = ""
        if self.last_error == self._source_error:
            self._clear_error()
        self._update_banner()

    def status(self, message: str) -> None:
        if message.endswith("is back"):  # a source that dropped out: its error is over
            self._clear_error()
        self.bar.showMessage(message, _STATUS_MS)

    def expire(self) -> None:
        if self.last_error and time.monotonic() > self._error_until:
            self._clear_error()

    def _clear_error(self) -> None:
        self.last_error = ""
        self._update_banner()

    def _update_banner(self) -> None:
        """An error if there is one, else the standing notice, else nothing."""
        if self.last_error:
            self.video.set_message(self.last_error, "error")
        else:
            self.video.set_message(self._notice, "notice")
