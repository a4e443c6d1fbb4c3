"""The uncertainty colour scale: one mapping from predicted 3D standard deviation (mm) to colour,
used by the mesh (mesh3d.py) and drawn as a labelled bar beside it, so colours can be read as mm.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import QRectF, QSize, Qt
from PyQt6.QtGui import QColor, QLinearGradient, QPainter
from PyQt6.QtWidgets import QWidget

__all__ = ["COLOR_MODES", "SIGMA_MAX_MM", "uncertainty_rgba", "ColorBar"]

COLOR_MODES = ("skin", "uncertainty")  # how the mesh is coloured
SIGMA_MAX_MM = 25.0  # standard deviation shown as the hottest colour
_CMAP = pg.colormap.get("CET-L3")  # black-red-yellow-white heat
_LOW = 0.15  # skip the near-black start of the map: a mesh must stay visible on a dark background


def uncertainty_rgba(sigma_mm: np.ndarray) -> np.ndarray:
    """(N,) standard deviations in mm -> (N, 4) float32 RGBA in [0, 1]; >= SIGMA_MAX_MM is hottest."""
    level = np.clip(np.asarray(sigma_mm, np.float32) / SIGMA_MAX_MM, 0.0, 1.0)
    return _CMAP.map(_LOW + (1 - _LOW) * level, mode="float").astype(np.float32)


class ColorBar(QWidget):
    """A horizontal bar of `uncertainty_rgba` from 0 to SIGMA_MAX_MM mm with ticks and a title."""

    _TICKS_MM = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setToolTip("Mesh colour in uncertainty mode: each vertex takes the predicted 3D standard "
                        f"deviation of its nearest joint (mm, mean of x, y, z); {SIGMA_MAX_MM:.0f} mm "
                        "or more is the hottest colour.")
        self.setFixedHeight(self.fontMetrics().height() * 2 + 14)

    def paintEvent(self, event) -> None:  # Qt override
        painter = QPainter(self)
        metrics = self.fontMetrics()
        title = "predicted 3D σ of the nearest joint (mm)"
        title_w = metrics.horizontalAdvance(title) + 12
        bar = QRectF(8, 4, max(40, self.width() - 16), 10)
        gradient = QLinearGradient(bar.left(), 0, bar.right(), 0)
        for stop in np.linspace(0, 1, 11):
            r, g, b, _ = uncertainty_rgba(np.array([stop * SIGMA_MAX_MM]))[0]
            gradient.setColorAt(float(stop), QColor.fromRgbF(float(r), float(g), float(b)))
        painter.fillRect(bar, gradient)
        painter.setPen(QColor("#aab2bb"))
        text_y = bar.bottom() + 2
        for mm in self._TICKS_MM:
            x = bar.left() + bar.width() * mm / SIGMA_MAX_MM
            label = f"{mm:.0f}+" if mm == SIGMA_MAX_MM else f"{mm:.0f}"
            w = metrics.horizontalAdvance(label)
            left = min(max(x - w / 2, 0.0), self.width() - w)
            painter.drawText(QRectF(left, text_y, w + 2, metrics.height()), Qt.AlignmentFlag.AlignLeft, label)
        if title_w < self.width():
            painter.drawText(QRectF(0, text_y + metrics.height(), self.width(), metrics.height()),
                             Qt.AlignmentFlag.AlignHCenter, title)
        painter.end()

    def sizeHint(self) -> QSize:  # Qt override
        return QSize(300, self.height())
