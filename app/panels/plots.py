"""StatsPanel: loops per frame over time and their histogram, GFLOPs per frame, latency and FPS.

`add()` is cheap and takes every processed frame (it only writes into ring buffers); `redraw()`
pushes the buffers into the plots and is what the window throttles.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

__all__ = ["StatsPanel", "STAGES"]

STAGES = ("detect", "crop", "dirnet", "post", "total")  # timings plotted, in ms
_STAGE_COLORS = ("#ffb74d", "#4fc3f7", "#ba68c8", "#81c784", "#eceff1")
_HISTORY = 300  # frames kept


class _Ring:
    """Last n values of several series, readable in order as a view without copying.

    Each value is written twice (at i and i + n) so buf[:, i+1 : i+1+n] is always the ordered
    window, oldest first.
    """

    def __init__(self, series: int, n: int) -> None:
        self.n = n
        self.buf = np.full((series, 2 * n), np.nan, np.float32)
        self.i = -1
        self.count = 0

    def push(self, values) -> None:
        self.i = (self.i + 1) % self.n
        self.buf[:, self.i] = values
        self.buf[:, self.i + self.n] = values
        self.count = min(self.count + 1, self.n)

    def window(self) -> np.ndarray:
        return self.buf[:, self.i + 1: self.i + 1 + self.n]


class StatsPanel(pg.GraphicsLayoutWidget):
    """Four small plots in a row. Frames without a hand count as 0 loops / 0 GFLOPs."""

    def __init__(self, max_loops: int = 4, parent=None) -> None:
        super().__init__(parent)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self._x = np.arange(-_HISTORY + 1, 1, dtype=np.float32)
        self._ring = _Ring(2 + len(STAGES), _HISTORY)  # loops, gflops, stage timings
        self._fps = 0.0
        self._latency = 0.0
        self._tick_font = pg.QtGui.QFont()  # (QFont("", 7) crashes Qt's text layout under xcb)
        self._tick_font.setPointSize(7)

        self.loops_plot = self._plot(0, "Loops per frame", "frames ago")
        self._loops_curve = self.loops_plot.plot(pen=pg.mkPen("#ba68c8", width=2), stepMode=None)
        self.hist_plot = self._plot(1, "Loop histogram", "loops")
        self._bars = pg.BarGraphItem(x=[1], height=[0], width=0.7, brush="#7e57c2")
        self.hist_plot.addItem(self._bars)
        self.gflops_plot = self._plot(2, "GFLOPs per frame", "frames ago")
        self._gflops_curve = self.gflops_plot.plot(pen=pg.mkPen("#4db6ac", width=2),
                                                   fillLevel=0, brush=(77, 182, 172, 50))
        self.latency_plot = self._plot(3, "Latency per stage (ms)", "frames ago")
        legend = self.latency_plot.addLegend(offset=(4, 2), labelTextSize="7pt", verSpacing=-8,
                                             colCount=len(STAGES), horSpacing=4)
        legend.setBrush((20, 22, 26, 190))
        self._stage_curves = [self.latency_plot.plot(pen=pg.mkPen(c, width=1.5), name=s)
                              for s, c in zip(STAGES, _STAGE_COLORS)]
        self.set_max_loops(max_loops)

    def _plot(self, col: int, title: str, xlabel: str) -> pg.PlotItem:
        plot = self.addPlot(row=0, col=col)
        plot.setTitle(title, size="9pt", color="#cfd8dc")
        plot.showGrid(x=False, y=True, alpha=0.15)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        plot.getAxis("bottom").setLabel(xlabel, **{"font-size": "7pt", "color": "#78909c"})
        for axis in ("left", "bottom"):
            plot.getAxis(axis).setTickFont(self._tick_font)
        return plot

    def set_max_loops(self, max_loops: int) -> None:
        self.max_loops = max_loops
        self.loops_plot.setYRange(0, max_loops + 0.3, padding=0)
        self.hist_plot.setXRange(0.4, max_loops + 0.6, padding=0)

    def add(self, processed) -> None:
        """Record one processed frame (an app.worker.Processed or anything with .result/.fps)."""
        result = processed.result
        loops = max(result.loops, default=0)
        timings = [result.timings.get(s, 0.0) for s in STAGES]
        self._ring.push([loops, result.gflops, *timings])
        self._fps = processed.fps
        self._latency = processed.latency_ms

    @property
    def fps(self) -> float:
        return self._fps

    def histogram(self) -> np.ndarray:
        """(max_loops,) count of frames with a hand that ran 1..max_loops loops (recent history)."""
        loops = self._ring.window()[0]
        loops = loops[np.isfinite(loops) & (loops > 0)].astype(np.int64)
        return np.bincount(loops, minlength=self.max_loops + 1)[1:self.max_loops + 1]

    def redraw(self) -> None:
        """Push the recorded history into the plots."""
        if self._ring.count == 0:
            return
        data = self._ring.window()
        self._loops_curve.setData(self._x, data[0], connect="finite")
        self._gflops_curve.setData(self._x, data[1], connect="finite")
        for curve, series in zip(self._stage_curves, data[2:]):
            curve.setData(self._x, series, connect="finite")
        total = data[-1][np.isfinite(data[-1])]
        # Scale to the typical frame, not to one slow start-up frame.
        self.latency_plot.setYRange(0, max(5.0, 1.3 * float(np.percentile(total, 95))), padding=0)
        counts = self.histogram()
        self._bars.setOpts(x=np.arange(1, self.max_loops + 1), height=counts, width=0.7)
        self.latency_plot.setTitle(
            f"Latency per stage (ms) · {self._fps:.0f} fps · {self._latency:.0f} ms end-to-end",
            size="9pt", color="#cfd8dc")
