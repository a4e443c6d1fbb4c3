"""StatsPanel: loops per frame over time and their histogram, GFLOPs per frame, latency and FPS.

`add()` is cheap and takes every processed frame (it only writes into ring buffers); `redraw()`
pushes the buffers into the plots and is what the window throttles. The four plots sit in one row
when the panel is wide and in a 2x2 grid when it is not, so none is squeezed on a laptop screen.
Building them costs about 0.2 s of CPU (pyqtgraph's plot items and Qt's enums), so the window
builds them after its first frame (`deferred`); until then the panel says so.
"""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg

__all__ = ["StatsPanel", "STAGES"]

STAGES = ("detect", "dirnet", "post", "total")  # timings plotted, in ms
_STAGE_COLORS = ("#ffb74d", "#ba68c8", "#81c784", "#eceff1")
_HISTORY = 300  # frames kept
_MIN_PLOT_W = 250  # px: below this per plot in one row, the plots go 2x2
_TEXT_PT = 9  # tick, axis and legend text; titles one point larger


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
    """Four small plots, in a row or 2x2. Frames without a hand count as 0 loops / 0 GFLOPs.

    Args:
        max_loops: the loop axis' range until set_max_loops.
        deferred: build the plots only when build() is called; frames added before are kept.
    """

    # class defaults: pyqtgraph calls resizeEvent from inside its own __init__, before ours runs
    _plots: tuple[pg.PlotItem, ...] = ()
    _columns = 0

    def __init__(self, max_loops: int = 4, deferred: bool = False, parent=None) -> None:
        super().__init__(parent)
        self.ci.setContentsMargins(2, 2, 2, 2)
        self._x = np.arange(-_HISTORY + 1, 1, dtype=np.float32)
        self._ring = _Ring(2 + len(STAGES), _HISTORY)  # loops, gflops, stage timings
        self._tick_font = pg.QtGui.QFont()  # (QFont("", 9) crashes Qt's text layout under xcb)
        self._tick_font.setPointSize(_TEXT_PT)

        self.setToolTip(f"The last {_HISTORY} processed frames, newest at the right (x: frames ago). "
                        "Loops: refiner passes of the hand that ran most; GFLOPs: DIR-Net's compute for "
                        "all hands; latency: milliseconds per pipeline stage.")
        self.max_loops = max_loops
        if deferred:
            self.addLabel("loops, GFLOPs and latency plots: with the first frame", color="#90a4ae")
        else:
            self.build()

    def build(self) -> None:
        """Create the plots (once) and show what was recorded so far."""
        if self._plots:
            return
        self.ci.clear()  # the deferred panel's note
        self.loops_plot = self._plot("Loops per frame")
        self._loops_curve = self.loops_plot.plot(pen=pg.mkPen("#ba68c8", width=2), stepMode=None)
        self.hist_plot = self._plot("Loop histogram")
        self._bars = pg.BarGraphItem(x=[1], height=[0], width=0.7, brush="#7e57c2")
        self.hist_plot.addItem(self._bars)
        self.gflops_plot = self._plot("GFLOPs per frame")
        self._gflops_curve = self.gflops_plot.plot(pen=pg.mkPen("#4db6ac", width=2),
                                                   fillLevel=0, brush=(77, 182, 172, 50))
        # the legend is the title (stage names in their colours): it can never cover the curves
        legend = " ".join(f"<span style='color:{c}'>{s}</span>" for s, c in zip(STAGES, _STAGE_COLORS))
        self.latency_plot = self._plot(f"ms: {legend}")
        self._stage_curves = [self.latency_plot.plot(pen=pg.mkPen(c, width=1.5), name=s)
                              for s, c in zip(STAGES, _STAGE_COLORS)]
        self._plots = (self.loops_plot, self.hist_plot, self.gflops_plot, self.latency_plot)
        self._fit_loop_axes()
        self._arrange()
        self.redraw()

    def _plot(self, title: str) -> pg.PlotItem:
        plot = pg.PlotItem()
        plot.setTitle(title, size=f"{_TEXT_PT + 1}pt", color="#cfd8dc")
        plot.showGrid(x=False, y=True, alpha=0.15)
        plot.setMenuEnabled(False)
        plot.setMouseEnabled(False, False)
        plot.hideButtons()
        for axis in ("left", "bottom"):
            plot.getAxis(axis).setTickFont(self._tick_font)
        return plot

    def columns(self) -> int:
        """Plots per row in the current layout (4 or 2)."""
        return self._columns

    def _arrange(self) -> None:
        columns = 4 if self.width() >= 4 * _MIN_PLOT_W else 2
        if columns == self._columns or not self._plots:
            return
        self._columns = columns
        for plot in self._plots:
            if plot.scene() is not None:
                self.ci.removeItem(plot)
        for i, plot in enumerate(self._plots):
            self.ci.addItem(plot, row=i // columns, col=i % columns)

    def resizeEvent(self, event) -> None:  # Qt override
        self._arrange()  # first: the view then fits the re-arranged layout to the new size
        super().resizeEvent(event)

    def set_max_loops(self, max_loops: int) -> None:
        if max_loops == self.max_loops:
            return  # unchanged: redrawing the axes costs more than checking
        self.max_loops = max_loops
        self._fit_loop_axes()

    def _fit_loop_axes(self) -> None:
        if not self._plots:
            return
        max_loops = self.max_loops
        self.loops_plot.setYRange(0, max_loops + 0.3, padding=0)
        self.hist_plot.setXRange(0.4, max_loops + 0.6, padding=0)
        self.hist_plot.getAxis("bottom").setTicks([[(l, str(l)) for l in range(1, max_loops + 1)]])

    def add(self, processed) -> None:
        """Record one processed frame (an app.worker.Processed or anything with a .result)."""
        result = processed.result
        loops = max(result.loops, default=0)
        timings = [result.timings.get(s, 0.0) for s in STAGES]
        self._ring.push([loops, result.gflops, *timings])

    def histogram(self) -> np.ndarray:
        """(max_loops,) count of frames with a hand that ran 1..max_loops loops (recent history)."""
        loops = self._ring.window()[0]
        loops = loops[np.isfinite(loops) & (loops > 0)].astype(np.int64)
        return np.bincount(loops, minlength=self.max_loops + 1)[1:self.max_loops + 1]

    def redraw(self) -> None:
        """Push the recorded history into the plots."""
        if self._ring.count == 0 or not self._plots:
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
