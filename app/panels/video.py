"""VideoPanel: the annotated camera image, a banner for problems (no camera, no weights) and the
REC badge with the recording's elapsed time."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QSize
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

__all__ = ["VideoPanel"]

_REC_STYLE = ("QLabel { background: rgba(20, 20, 20, 200); color: #ff5252; padding: 4px 8px;"
              " border-radius: 4px; font-weight: 700; }")
_BANNER_STYLE = ("QLabel { background: rgba(183, 28, 28, 215); color: white; padding: 6px 10px;"
                 " border-radius: 4px; font-weight: 600; }")


class VideoPanel(QWidget):
    """Shows one RGB image at a time (row-major, aspect locked) with an optional message banner.

    The overlay (skeleton, ellipses, labels) is already drawn into the image by the worker
    (`app.drawing.annotate`), so showing a frame is a single in-place `setImage`.
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
        self._placeholder = pg.TextItem("waiting for frames…", color=(160, 170, 180), anchor=(0.5, 0.5))
        box.addItem(self._placeholder)
        self._placeholder.setPos(320, 240)
        box.setRange(xRange=(0, 640), yRange=(0, 480), padding=0)
        self._banner = QLabel(self)
        self._banner.setStyleSheet(_BANNER_STYLE)
        self._banner.setWordWrap(True)
        self._banner.hide()
        self._rec = QLabel(self)
        self._rec.setStyleSheet(_REC_STYLE)
        self._rec.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._view)
        self._shape: tuple[int, ...] | None = None

    def set_image(self, image: np.ndarray) -> None:
        """Show an (H, W, 3) uint8 RGB image; the view re-fits only when the size changes."""
        self._image.setImage(image, autoLevels=False)
        if image.shape != self._shape:
            self._shape = image.shape
            self._placeholder.hide()
            self._box.setRange(xRange=(0, image.shape[1]), yRange=(0, image.shape[0]), padding=0)

    def set_message(self, text: str | None) -> None:
        """Show `text` in a red banner over the video; None or "" hides it."""
        if text:
            self._banner.setText(text)
            self._banner.show()
            self._place_banner()
        else:
            self._banner.hide()

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
        return self._banner.text() if self._banner.isVisible() else ""

    def _place_banner(self) -> None:
        width = max(100, self.width() - 24)
        self._banner.setFixedWidth(width)
        self._banner.adjustSize()
        self._banner.move(12, 12)

    def resizeEvent(self, event) -> None:  # Qt override
        super().resizeEvent(event)
        if self._banner.isVisible():
            self._place_banner()
        if self._rec.isVisible():
            self.set_recording(self._rec.text())

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(720, 540)
