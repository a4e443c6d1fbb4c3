"""HeatmapPanel: one uncertainty heatmap per refiner loop executed on the current frame (Fig. 4).

Plain Qt widgets (an image tile and a caption label per loop in a grid): captions are laid out by
Qt, so they wrap instead of overlapping, and the grid picks the number of columns that gives the
largest tiles for the panel's shape, so every loop stays visible from a laptop screen up.
"""
from __future__ import annotations

import math

import numpy as np
from PyQt6.QtCore import QRect, QSize, Qt
from PyQt6.QtGui import QColor, QImage, QPainter
from PyQt6.QtWidgets import QGridLayout, QLabel, QSizePolicy, QWidget

from ..drawing import heatmap_images, loop_heatmaps

__all__ = ["HeatmapPanel", "ImageTile"]

_RES = 112  # heatmap side, px
_CAPTION_H = 36  # room for two caption lines under each tile
_TOOLTIP = ("Where DIR-Net thinks each joint is after this refiner loop, on the crop it saw: each joint "
            "is a Gaussian with its predicted 2D standard deviation, all loops on one brightness scale "
            "(sharp spots: confident; wide glow: unsure).\nσ: mean predicted standard deviation, frame px. "
            "exit: the gate's probability of stopping after this loop at the current τ_gate.\n"
            "'skipped': the exit policy stopped before this loop.")


class ImageTile(QWidget):
    """Paints an RGB image scaled to fit, aspect kept, centred; dark when empty."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._qimage: QImage | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(48, 48)

    def set_image(self, image: np.ndarray | None) -> None:
        """(H, W, 3) uint8 RGB, copied; None blanks the tile."""
        if image is None:
            self._qimage = None
        else:
            image = np.ascontiguousarray(image)
            h, w = image.shape[:2]
            self._qimage = QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.update()

    def image_rect(self) -> QRect:
        """Where the image is drawn: the largest centred square-ish fit of its aspect."""
        if self._qimage is None:
            side = min(self.width(), self.height())
            return QRect((self.width() - side) // 2, (self.height() - side) // 2, side, side)
        size = self._qimage.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        return QRect((self.width() - size.width()) // 2, (self.height() - size.height()) // 2,
                     size.width(), size.height())

    def paintEvent(self, event) -> None:  # Qt override
        painter = QPainter(self)
        rect = self.image_rect()
        if self._qimage is None:
            painter.fillRect(rect, QColor(24, 24, 24))
        else:
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(rect, self._qimage)
        painter.end()

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(_RES, _RES)


class HeatmapPanel(QWidget):
    """A grid of `max_loops` tiles; loops that did not run stay dark and say "skipped".

    Each caption shows the loop's mean predicted 2D standard deviation (frame px) and the gate's
    EXIT probability, so the exit decision can be read off the panel.
    """

    def __init__(self, max_loops: int = 4, parent=None) -> None:
        super().__init__(parent)
        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(4, 4, 4, 4)
        self._grid.setSpacing(6)
        self._tiles: list[ImageTile] = []
        self._captions: list[QLabel] = []
        self._columns = 0
        self.setToolTip(_TOOLTIP)
        self.set_max_loops(max_loops)

    def set_max_loops(self, max_loops: int) -> None:
        """Rebuild the grid for this many loops (only when the model changes)."""
        if max_loops == len(self._tiles):
            return
        for widget in self._tiles + self._captions:
            widget.deleteLater()
        self._tiles = [ImageTile() for _ in range(max_loops)]
        self._captions = []
        for l in range(max_loops):
            caption = QLabel()
            caption.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            caption.setWordWrap(True)
            caption.setFixedHeight(_CAPTION_H)
            self._captions.append(caption)
            _set_caption(caption, f"loop {l + 1}")
        self._columns = 0
        self._arrange()

    def columns(self) -> int:
        """Tiles per row in the current layout."""
        return self._columns

    def _best_columns(self) -> int:
        """The column count that gives the largest square tiles in the panel's current size."""
        n = len(self._tiles)
        width, height = max(self.width(), 1), max(self.height(), 1)

        def side(cols: int) -> float:
            rows = math.ceil(n / cols)
            return min(width / cols, height / rows - _CAPTION_H)
        return max(range(1, n + 1), key=side) if n else 1

    def _arrange(self) -> None:
        columns = self._best_columns()
        if columns == self._columns:
            return
        self._columns = columns
        for widget in self._tiles + self._captions:
            self._grid.removeWidget(widget)
        for l, (tile, caption) in enumerate(zip(self._tiles, self._captions)):
            row, col = divmod(l, columns)
            self._grid.addWidget(tile, 2 * row, col)
            self._grid.addWidget(caption, 2 * row + 1, col)

    def resizeEvent(self, event) -> None:  # Qt override
        super().resizeEvent(event)
        self._arrange()

    def titles(self) -> list[str]:
        """The caption under each loop's image (for tests and tooltips)."""
        return [caption.text() for caption in self._captions]

    def images(self) -> list[QImage | None]:
        """The image each tile shows (None: blank)."""
        return [tile._qimage for tile in self._tiles]

    def set_hand(self, hand, frame: np.ndarray | None = None) -> None:
        """Show the heatmaps of one HandResult: its pose's trace over its box of `frame` (the
        (H, W, 3) uint8 RGB image it was estimated on, required with a hand); None blanks the grid."""
        if hand is None:
            for l, (tile, caption) in enumerate(zip(self._tiles, self._captions)):
                tile.set_image(None)
                _set_caption(caption, f"loop {l + 1}")
            return
        trace = hand.pose.trace
        images = heatmap_images(frame, hand.pose.box, loop_heatmaps(hand.pose, _RES))
        for l, (tile, caption) in enumerate(zip(self._tiles, self._captions)):
            if l < len(trace):
                tile.set_image(images[l])
                sigma = float(np.sqrt(np.maximum(trace[l].var2d, 0.0)).mean())
                _set_caption(caption, f"loop {l + 1}<br>σ {sigma:.1f} px · exit {trace[l].exit_prob:.2f}",
                             "#e8eaed")
            else:
                tile.set_image(None)
                _set_caption(caption, f"loop {l + 1}<br>skipped", "#5f6870")

    def minimumSizeHint(self) -> QSize:  # Qt override
        return QSize(120, 120)


def _set_caption(label: QLabel, text: str, color: str = "#9aa4ad") -> None:
    """Change a caption only when it differs (each change re-lays out the grid)."""
    if label.text() != text:
        label.setText(text)
        label.setStyleSheet(f"color: {color};")
