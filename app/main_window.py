"""MainWindow: lays out the panels and wires the capture thread, the worker and the widgets.

Threads (STYLE.md 10): CaptureThread reads frames and hands them straight to InferenceWorker
(a direct, thread-safe call: frames never pass through the UI thread); the worker emits one
`Processed` per frame. The UI records every result cheaply (plots' ring buffers, gesture events)
and redraws at most 30 times a second through a pg.SignalProxy, so it never falls behind.
"""
from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QLabel, QMainWindow, QScrollArea, QSplitter, QVBoxLayout, QWidget

from .capture import CaptureThread
from .config import AppConfig
from .controls import ControlPanel
from .gesture_panel import GesturePanel
from .gestures import open_store
from .headless import settings_from_config
from .panels.heatmaps import HeatmapPanel
from .panels.plots import StatsPanel
from .panels.video import VideoPanel
from .recording import RecordingError, check_writable
from .worker import InferenceWorker, Processed

__all__ = ["MainWindow", "gl_available"]

_BANNER_S = 10.0  # an error stays on the video this long unless it repeats
_STATS_PERIOD_S = 0.2  # plots redraw 5x a second: repainting their axes costs ~5 ms each time


def gl_available() -> bool:
    """The 3D view needs real OpenGL; Qt's offscreen platform has none (pyqtgraph.opengl crashes)."""
    return QGuiApplication.platformName() not in ("offscreen", "minimal")


class MainWindow(QMainWindow):
    """The app's window. Call `start()` after construction and `stop_threads()` when done."""

    def __init__(self, config: AppConfig) -> None:
        super().__init__()
        self.config = config
        self.setWindowTitle("DIR-Net hand tracker")
        self.settings = settings_from_config(config)
        self.frames_shown = 0
        self.results = 0
        self._stats_drawn = 0.0
        self._last_error = ""
        self._error_until = 0.0
        self._recording_since: float | None = None  # monotonic start of the session being recorded
        store, problem = open_store(config.gestures)  # a broken file is kept; edits go elsewhere
        if problem:
            print(problem, file=sys.stderr)

        self.controls = ControlPanel(config)
        self.gestures = GesturePanel(store, config.gesture_threshold)
        self.video = VideoPanel()
        self.stats = StatsPanel()
        self.heatmaps = HeatmapPanel()
        if gl_available():
            from .panels.mesh3d import MeshPanel
            self.mesh: QWidget = MeshPanel()
        else:
            self.mesh = QLabel("3D view needs OpenGL (not available on this display)")
            self.mesh.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout()

        self.capture = CaptureThread(self)
        self.worker = InferenceWorker(config.weights, config.device, self.settings, config.mirror,
                                      config.threads, self)
        self._connect()
        self._proxy = pg.SignalProxy(self.worker.result_ready, rateLimit=30, slot=self._show)
        self._status_labels()
        # Python only sees Ctrl+C while it runs; a slow tick lets the SIGINT handler fire.
        self._tick = QTimer(self)
        self._tick.timeout.connect(self._expire_banner)
        self._tick.timeout.connect(self._show_recording_time)
        self._tick.start(250)
        self.gestures.gestures_changed.emit(dict(store.gestures))

    # ---- layout --------------------------------------------------------------------------------
    def _layout(self) -> None:
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(8, 4, 8, 8)
        side_layout.addWidget(self.controls)
        side_layout.addWidget(self.gestures)
        side_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(300)
        scroll.setMaximumWidth(380)

        centre = QSplitter(Qt.Orientation.Vertical)
        centre.addWidget(self.video)
        centre.addWidget(self.stats)
        centre.setStretchFactor(0, 4)
        centre.setStretchFactor(1, 1)
        centre.setSizes([600, 190])

        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(_titled("3D hand mesh (drag to rotate)", self.mesh))
        right.addWidget(_titled("Per-loop 2D uncertainty of the first hand (current frame)", self.heatmaps))
        right.setSizes([640, 250])

        main = QSplitter(Qt.Orientation.Horizontal)
        main.addWidget(scroll)
        main.addWidget(centre)
        main.addWidget(right)
        main.setStretchFactor(1, 3)
        main.setStretchFactor(2, 2)
        main.setSizes([320, 820, 460])
        self.setCentralWidget(main)
        self.resize(1600, 960)

    def _status_labels(self) -> None:
        self.source_label = QLabel("no source")
        self.capture_fps_label = QLabel("capture – fps")
        self.process_label = QLabel("processing – fps")
        bar = self.statusBar()
        for label in (self.source_label, self.capture_fps_label, self.process_label):
            bar.addPermanentWidget(label)

    # ---- wiring --------------------------------------------------------------------------------
    def _connect(self) -> None:
        cap, worker = self.capture, self.worker
        direct = Qt.ConnectionType.DirectConnection  # thread-safe slots: skip the UI thread
        cap.frame_ready.connect(worker.submit, direct)
        cap.source_opened.connect(worker.source_changed, direct)
        cap.source_opened.connect(self._source_opened)
        cap.errored.connect(self._error)
        cap.status.connect(self._status)
        cap.fps_updated.connect(lambda fps: self.capture_fps_label.setText(f"capture {fps:.0f} fps"))
        worker.result_ready.connect(self._on_result)
        worker.estimator_ready.connect(self._estimator_ready)
        worker.errored.connect(self._error)
        worker.status.connect(self._status)
        worker.recording_changed.connect(self.controls.set_recording)
        worker.recording_changed.connect(self._recording_changed)
        worker.gesture_captured.connect(self.gestures.add_captured)
        c, g = self.controls, self.gestures
        c.settings_changed.connect(self._change_settings)
        g.settings_changed.connect(self._change_settings)
        c.source_requested.connect(self.open_source)
        c.mirror_changed.connect(worker.set_mirror)
        c.record_toggled.connect(self._record)
        if hasattr(self.mesh, "set_color_mode"):
            c.mesh_color_changed.connect(self.mesh.set_color_mode)
        g.capture_requested.connect(worker.capture_gesture)
        g.gestures_changed.connect(worker.set_gestures)
        g.errored.connect(self._error)

    def start(self) -> None:
        """Start the worker (it loads DIR-Net) and open the configured source."""
        self.worker.start()
        self.open_source(self.config.source)
        if self.config.record is not None:
            try:
                check_writable(self.config.record)  # now, not after the model has loaded
            except RecordingError as exc:
                self._error(str(exc))
                return
            self._record(True)

    def open_source(self, spec: str) -> None:
        width, height, fps = self.controls.resolution()
        self.source_label.setText(f"opening {spec}…")
        self.worker.source_spec = spec
        self.capture.open(spec, width, height, fps)

    # ---- slots ---------------------------------------------------------------------------------
    def _change_settings(self, changes: dict) -> None:
        self.settings = replace(self.settings, **changes)
        self.worker.set_settings(self.settings)

    def _record(self, on: bool) -> None:
        if on:
            self.worker.start_recording(self.controls.record_root)
        else:
            self.worker.stop_recording()

    def _recording_changed(self, path: str) -> None:
        self._recording_since = time.monotonic() if path else None
        self._show_recording_time()

    def _show_recording_time(self) -> None:
        if self._recording_since is None:
            self.video.set_recording(None)
            return
        seconds = int(time.monotonic() - self._recording_since)
        self.video.set_recording(f"● REC {seconds // 60:02d}:{seconds % 60:02d}")

    def _source_opened(self, name: str, fps: float) -> None:
        self.source_label.setText(f"{name} @ {fps:.0f} fps")
        self.controls.show_source(name)
        if self._last_error and "demo" not in self._last_error:
            self._clear_error()
        self._status(f"opened {name}")

    def _estimator_ready(self, info) -> None:
        self.controls.set_estimator_info(info)
        self.heatmaps.set_max_loops(info.max_loops)
        self.stats.set_max_loops(info.max_loops)

    def _on_result(self, processed: Processed) -> None:
        """Every processed frame: cheap bookkeeping only (drawing happens in _show)."""
        self.results += 1
        self.stats.add(processed)
        self.gestures.log_events(processed.result.hands)
        self.process_label.setText(f"processing {processed.fps:.0f} fps · {processed.latency_ms:.0f} ms")
        limit = self.config.max_frames
        if limit is not None and self.results == limit:
            QTimer.singleShot(300, self._finish)

    def _show(self, args: tuple) -> None:
        """Throttled (<= 30 Hz): redraw every panel from the newest result."""
        (processed,) = args
        result = processed.result
        self.video.set_image(processed.image)
        hands = result.hands
        if hasattr(self.mesh, "set_hands"):
            self.mesh.set_hands(hands, [h.box.cx for h in hands])
        self.heatmaps.set_hand(hands[0] if hands else None)
        self.gestures.set_hands(hands)
        now = time.monotonic()
        if now - self._stats_drawn >= _STATS_PERIOD_S:
            self.stats.redraw()
            self._stats_drawn = now
        self.frames_shown += 1

    def _error(self, message: str) -> None:
        """Show a problem on the video and, once per distinct message, on stderr."""
        if message != self._last_error:
            print(message, file=sys.stderr)
        self._last_error = message
        self._error_until = time.monotonic() + _BANNER_S
        self.video.set_message(message)
        self.statusBar().showMessage(message, int(_BANNER_S * 1000))

    def _clear_error(self) -> None:
        self._last_error = ""
        self.video.set_message(None)

    def _expire_banner(self) -> None:
        if self._last_error and time.monotonic() > self._error_until:
            self._clear_error()

    def _status(self, message: str) -> None:
        if message.endswith("is back"):
            self._clear_error()
        self.statusBar().showMessage(message, 5000)

    def _finish(self) -> None:
        """--max-frames reached: save the --screenshot if asked, then close."""
        if self.config.screenshot is not None:
            self._proxy.flush()
            self.stats.redraw()
            QGuiApplication.processEvents()
            path = Path(self.config.screenshot)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not self.grab().save(str(path)):
                print(f"cannot write screenshot {path}", file=sys.stderr)
            else:
                print(f"screenshot saved to {path}")
        self.close()

    # ---- shutdown ------------------------------------------------------------------------------
    def stop_threads(self) -> None:
        """Stop capture, then the worker (which finalises any recording). Safe to call twice."""
        self.capture.stop()
        self.worker.stop()

    def closeEvent(self, event) -> None:  # Qt override
        self.stop_threads()
        super().closeEvent(event)


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.setSpacing(2)
    label = QLabel(title)
    label.setObjectName("hint")
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return box
