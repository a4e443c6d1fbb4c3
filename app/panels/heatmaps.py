"""HeatmapPanel: one uncertainty heatmap per refiner loop executed on the current frame (Fig. 4)."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from ..drawing import heatmap_images, loop_heatmaps

__all__ = ["HeatmapPanel"]

_RES = 112  # heatmap side, px


class HeatmapPanel(pg.GraphicsLayoutWidget):
    """A row of `max_loops` small images; loops that did not run stay dark.

    Each title shows the loop's mean predicted 2D standard deviation (crop px) and the gate's
    EXIT probability, so the exit decision can be read off the panel.
    """

    def __init__(self, max_loops: int = 4, parent=None) -> None:
        super().__init__(parent)
        self.ci.setContentsMargins(4, 4, 4, 4)
        self._blank = np.full((_RES, _RES, 3), 24, np.uint8)
        self._boxes: list[pg.ViewBox] = []
        self._images: list[pg.ImageItem] = []
        self.set_max_loops(max_loops)

    def set_max_loops(self, max_loops: int) -> None:
        """Rebuild the row for this many loops (only when the model changes)."""
        self.ci.clear()
        self._boxes, self._images = [], []
        for l in range(max_loops):
            box = self.ci.addViewBox(row=0, col=l, lockAspect=True, invertY=True, enableMenu=False)
            box.setMouseEnabled(False, False)
            image = pg.ImageItem(self._blank, axisOrder="row-major")
            box.addItem(image)
            box.setRange(xRange=(0, _RES), yRange=(0, _RES), padding=0.02)
            self.ci.addLabel(f"loop {l + 1}", row=1, col=l, size="8pt", color="#9aa4ad")
            self._boxes.append(box)
            self._images.append(image)

    def _labels(self) -> list[pg.LabelItem]:
        return [item for item in self.ci.items if isinstance(item, pg.LabelItem)]

    def titles(self) -> list[str]:
        """The caption under each loop's image (for tests and tooltips)."""
        return [label.text for label in self._labels()]

    def set_hand(self, hand) -> None:
        """Show the heatmaps of one HandResult (its pose.trace and crop); None blanks the row."""
        labels = self._labels()
        if hand is None:
            for image, label, l in zip(self._images, labels, range(len(self._images))):
                image.setImage(self._blank, autoLevels=False)
                _set_text(label, f"loop {l + 1}")
            return
        trace = hand.pose.trace
        maps = loop_heatmaps(hand.pose, hand.crop.shape[0], _RES)
        images = heatmap_images(hand.crop, maps)
        for l, (image, label) in enumerate(zip(self._images, labels)):
            if l < len(trace):
                image.setImage(images[l], autoLevels=False)
                sigma = float(np.sqrt(np.maximum(trace[l].var2d, 0.0)).mean())
                _set_text(label, f"loop {l + 1}<br>σ {sigma:.1f} px · exit {trace[l].exit_prob:.2f}",
                          "#e8eaed")
            else:
                image.setImage(self._blank, autoLevels=False)
                _set_text(label, f"loop {l + 1}<br>skipped", "#5f6870")


def _set_text(label: pg.LabelItem, text: str, color: str = "#9aa4ad") -> None:
    """Change a caption only when it differs: every setText re-lays out the whole row."""
    if label.text != text:
        label.setText(text, color=color)
