"""VideoPanel: the annotated camera image, a banner for problems above it, start-up progress, and
the REC badge with the recording's elapsed time."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QSize, Qt
from PyQt6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStackedLayout, QVBoxLayout, QWidget

__all__ = ["VideoPanel", "BANNER_KINDS"]

_REC_STYLE = ("QLabel { background: rgba(20, 20, 20, 200); color: #ff5252; padding: 4px 8px;"
              " border-radius: 4px; font-weight: 700; }")
# error: something failed (red, the window clears it after a while); notice: what plays is not
# what was asked for, e.g. the demo because there is no camera (amber, stays until it changes)
BANNER_KINDS = {"error": "rgb(183, 28, 28)", "notice": "rgb(158, 105, 0)"}
_BANNER_STYLE = ("QLabel {{ background: {}; color: white; padding: 6px 10px; border-radius: 4px;"
                 " font-weight: 600; }}")


class VideoPanel(QWidget):
    """Shows one RGB image at a time (row-major, aspect locked) with an optional message banner.

    The overlay (skeleton, ellipses, labels) is already drawn into the image by the worker
    (`app.drawing.annotate`). `set_image` copies it into the panel's own buffer: the image on
    screen can never change after it was handed over, whoever owns the original. Until the first
    image arrives the panel shows start-up progress instead of an empty view.
    """

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._view = pg.GraphicsLayoutWidget()
        self._view.ci.setContentsMargins(0, 0, 0, 0)
        box = self._view.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        box.setMouseEnabled(False, False)
        self._box = box
        self._image = pg.ImageItem(axisOrder="row-major")
        box.addItem(self._image)
        self._shown: np.ndarray | None = None  # the panel's copy of the image on screen

        self._banner = QLabel()
        self._banner.setWordWrap(True)
        self._banner.hide()
        self._rec = QLabel(self)
        self._rec.setStyleSheet(_REC_STYLE)
        self._rec.hide()
        self._kind = "error"

        loading = QWidget()
        self._loading_text = QLabel("starting…")
        self._loading_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._loading_text.setWordWrap(True)
        # its changing text must not re-lay out the window (each relayout repaints every plot)
        self._loading_text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self._progress = QProgressBar()
        self._progress.setTextVisible(False)
        self._progress.setMaximumWidth(360)
        column = QVBoxLayout(loading)
        column.addStretch(1)
        column.addWidget(self._loading_text)
        column.addWidget(self._progress, 0, Qt.AlignmentFlag.AlignHCenter)
        column.addStretch(1)

        self._stack = QStackedLayout()
        self._stack.addWidget(loading)
        self._stack.addWidget(self._view)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addWidget(self._banner)
        layout.addLayout(self._stack, 1)

    def set_image(self, image: np.ndarray) -> None:
        """Show a copy of an (H, W, 3) uint8 RGB image; the view re-fits only when the size changes."""
        if self._shown is None or self._shown.shape != image.shape:
            self._shown = np.empty_like(image)
            self._box.setRange(xRange=(0, image.shape[1]), yRange=(0, image.shape[0]), padding=0)
            self._stack.setCurrentWidget(self._view)
        np.copyto(self._shown, image)
        self._image.setImage(self._shown, autoLevels=False)

    def image(self) -> np.ndarray | None:
        """The image on screen (the panel's copy), None before the first one."""
        return self._shown

    def set_loading(self, text: str, done: int, total: int) -> None:
        """Start-up progress shown until the first image: what is under way, `done` of `total` steps."""
        self._loading_text.setText(text)
        self._progress.setRange(0, total)
        self._progress.setValue(done)

    def set_message(self, text: str | None, kind: str = "error") -> None:
        """Show `text` in a banner above the video (kind: see BANNER_KINDS); None or "" hides it."""
        if not text:
            self._banner.hide()
            return
        if kind not in BANNER_KINDS:
            raise ValueError(f"banner kind must be one of {list(BANNER_KINDS)}, got {kind!r}")
        self._kind = kind
        self._banner.setStyleSheet(_BANNER_STYLE.format(BANNER_KINDS[kind]))
        self._banner.setText(text)
        self._banner.show()

    def set_recording(self, text: str | None) -> None:
        """Show `text` (e.g. "● REC 01:05") at the bottom right (the banner is on top); None hides."""
        if text:
            self._rec.setText(text)
            self._rec.adjustSize()
            self._rec.move(self.width() - self._rec.width() - 12, self.height() - self._rec.height() - 12)
            self._rec.show()
            self._rec.raise_()
        else:
            self._rec.hide()

    def recording_text(self) -> str:
        """The REC badge's text ("" when hidden)."""
        return self._rec.text() if self._rec.isVisible() else ""

    def message(self) -> str:
        """The banner's text ("" when hidden)."""
        return self._banner.text() if not self._banner.isHidden() else ""

    def message_kind(self) -> str:
        """"error" or "notice": the kind of the banner's text (meaningful while one is shown)."""
        return self._kind

    def resizeEvent(self, event) -> None:  # Qt override: the REC badge keeps to its corner
        super().resizeEvent(event)
        if self._rec.isVisible():
            self.set_recording(self._rec.text())

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(720, 540)
