"""MainWindow: builds the panels and wires the capture thread, the worker and the widgets.

Around it: window_layout arranges the panels, menus holds the menus and shortcuts, window_memory
restores and saves the layout and choices, messages says what goes wrong.

Threads: CaptureThread reads frames and hands them straight to InferenceWorker
(a direct, thread-safe call: frames never pass through the UI thread); the worker emits one
`Processed` per frame. The UI records every result cheaply (plots' ring buffers, gesture events)
and redraws at most 30 times a second through a pg.SignalProxy, so it never falls behind; each
redraw shows one Processed in every panel, so video, mesh and heatmaps show the same moment.

This module imports no torch or MediaPipe: the window paints within about a second and shows
start-up progress while the worker loads DIR-Net and MediaPipe and the capture thread opens the
source, side by side.
"""
from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import pyqtgraph as pg
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QLabel, QMainWindow, QWidget

from . import window_memory
from .capture import CaptureThread
from .config import AppConfig
from .controls import ControlPanel
from .finetune_panel import FinetunePanel
from .gesture_panel import GesturePanel
from .gestures import open_store
from .headless import settings_from_config
from .help_dialog import HelpDialog
from .menus import add_menus
from .messages import Messages
from .panels.colorbar import ColorBar
from .panels.heatmaps import HeatmapPanel
from .panels.plots import StatsPanel
from .panels.video import VideoPanel
from .recording import RecordingError, check_writable
from .remembered import CONFIG_FIELDS, Remembered
from .startup import STEPS, StartupLog
from .window_layout import Panes, fit_to_screen
from .worker import InferenceWorker, Processed

__all__ = ["MainWindow", "gl_available"]

_STATS_PERIOD_S = 0.2  # plots redraw 5x a second: repainting their axes costs ~5 ms each time


def gl_available() -> bool:
    """The 3D view needs real OpenGL; Qt's offscreen platform has none (pyqtgraph.opengl crashes)."""
    return QGuiApplication.platformName() not in ("offscreen", "minimal")


class MainWindow(QMainWindow):
    """The app's window. Call `start()` after construction and `stop_threads()` when done."""

    def __init__(self, config: AppConfig, startup: StartupLog | None = None) -> None:
        super().__init__()
        self.remembered = Remembered(config.settings_file)
        self.defaults = config  # what a reset goes back to: the command line over the built-in defaults
        config = self.remembered.config(config)
        self.config = config
        self.setWindowTitle("DIR-Net hand tracker")
        self.settings = settings_from_config(config)
        self.startup = startup or StartupLog()
        self.frames_shown = 0
        self.results = 0
        self._result_times = (0.0, 0.0)  # monotonic times of the first and the latest processed frame
        self.shown: Processed | None = None  # the result every panel shows now
        self._stats_drawn = 0.0
        self._recording_since: float | None = None  # monotonic start of the session being recorded
        self._source_name: str | None = None
        self._source_asked: str | None = None  # the spec last given to the capture thread
        self.source_spec: str | None = None  # the spec of the source playing (remembered on close)
        self._reading_held = False  # capture waits for the worker to finish starting
        self._start_pending = False  # start() was called; the threads start after the first paint
        self._record_at_start = False  # --record given and its folder usable
        self._loading = "opening the window…"
        # a broken store file is kept for the user; edits go elsewhere, and the window says so
        store, store_problem = open_store(config.gestures)

        self.controls = ControlPanel(config)
        self.gestures = GesturePanel(store, config.gesture_threshold)
        self.finetune = FinetunePanel(config.personal_weights, config.finetune_minutes, config.weights)
        self.video = VideoPanel()
        self.stats = StatsPanel(deferred=True)  # its plots come after the first frame (their cost)
        self.heatmaps = HeatmapPanel()
        self.colorbar = ColorBar()
        # the 3D view (PyOpenGL, a GL context) is built after the first frame: see _add_mesh_view
        self.mesh: QWidget = QLabel("3D view: starting…" if gl_available() else
                                    "3D view needs OpenGL (not available on this display)")
        self.mesh.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.panes = Panes({"Controls": self.controls, "Gestures": self.gestures, "Your hand": self.finetune},
                           self.video, self.stats, self.mesh, self.colorbar, self.heatmaps)
        self.setCentralWidget(self.panes)
        fit_to_screen(self, self.panes)
        window_memory.restore(self)
        self.colorbar.setVisible(self.controls.mesh_combo.currentText() == "uncertainty")
        self.messages = Messages(self.video, self.statusBar())

        self.capture = CaptureThread(self)
        self.worker = InferenceWorker(config.weights, config.device, self.settings, config.mirror,
                                      config.threads, self)
        self._connect()
        self._proxy = pg.SignalProxy(self.worker.result_ready, rateLimit=30, slot=self._show)
        self._status_labels()
        self._help: HelpDialog | None = None
        self.shortcuts = add_menus(self)
        # Python only sees Ctrl+C while it runs; a slow tick lets the SIGINT handler fire.
        self._tick = QTimer(self)
        self._tick.timeout.connect(self.messages.expire)
        self._tick.timeout.connect(self._show_recording_time)
        self._tick.start(250)
        self.gestures.gestures_changed.emit(dict(store.gestures))
        if store_problem:
            self.messages.error(store_problem)
        for problem in self.remembered.problems:
            self.messages.error(problem)
        self._update_loading()

    # ---- wiring --------------------------------------------------------------------------------
    def _status_labels(self) -> None:
        self.source_label = QLabel("no source")
        self.capture_fps_label = QLabel("capture – fps")
        self.process_label = QLabel("processing – fps")
        bar = self.statusBar()
        for label in (self.source_label, self.capture_fps_label, self.process_label):
            bar.addPermanentWidget(label)

    def _connect(self) -> None:
        cap, worker = self.capture, self.worker
        direct = Qt.ConnectionType.DirectConnection  # thread-safe slots: skip the UI thread
        cap.frame_ready.connect(worker.submit, direct)
        cap.source_opened.connect(worker.source_changed, direct)
        cap.source_opened.connect(self._source_opened)
        cap.errored.connect(self._capture_error)
        cap.notice.connect(self.messages.notice)
        cap.status.connect(self.messages.status)
        cap.fps_updated.connect(lambda fps: self.capture_fps_label.setText(f"capture {fps:.0f} fps"))
        worker.result_ready.connect(self._on_result)
        worker.loading.connect(self._loading_step)
        worker.estimator_ready.connect(self._estimator_ready)
        worker.detector_ready.connect(lambda: self._mark("mediapipe"))
        worker.ready.connect(self._worker_ready)
        worker.errored.connect(self.messages.error)
        worker.status.connect(self.messages.status)
        worker.recording_changed.connect(self.controls.set_recording)
        worker.recording_changed.connect(self._recording_changed)
        worker.gesture_captured.connect(self.gestures.add_captured)
        c, g = self.controls, self.gestures
        c.settings_changed.connect(self._change_settings)
        g.settings_changed.connect(self._change_settings)
        c.source_requested.connect(self.open_source)
        c.mirror_changed.connect(worker.set_mirror)
        c.record_toggled.connect(self._record)
        c.mesh_color_changed.connect(lambda mode: self.colorbar.setVisible(mode == "uncertainty"))
        g.capture_requested.connect(worker.capture_gesture)
        g.gestures_changed.connect(worker.set_gestures)
        g.errored.connect(self.messages.error)
        f = self.finetune
        worker.recording_changed.connect(f.recording_changed)
        f.weights_requested.connect(self._switch_weights)
        f.errored.connect(self.messages.error)

    def start(self) -> None:
        """Start the worker (it loads DIR-Net and MediaPipe) and open the configured source.

        The threads start once the window has painted (or after 0.5 s if it is not shown), so
        their imports do not delay the first picture. The source opens at once but is read only
        once the worker is ready: frames read earlier would be dropped anyway, and producing them
        (the demo renders each one) slows the loading.
        """
        self._record_at_start = self.config.record is not None
        if self._record_at_start:
            try:
                check_writable(self.config.record)  # now, before anything loads
            except RecordingError as exc:
                self.messages.error(str(exc))
                self._record_at_start = False
        self._start_pending = True
        if "window" in self.startup.marks:
            self._start_threads()
        else:
            QTimer.singleShot(500, self._start_threads)

    def _start_threads(self) -> None:
        if not self._start_pending:
            return
        self._start_pending = False
        self.worker.start()
        self._reading_held = True
        self.capture.set_paused(True)
        self.open_source(self.config.source)
        if self._record_at_start:
            self._record(True)

    def _add_mesh_view(self) -> None:
        """Replace the 3D placeholder by the OpenGL view, once the first frame is on screen:
        importing PyOpenGL and creating a GL context take about half a second, which would
        otherwise slow the loading of DIR-Net and MediaPipe (one GIL, few cores)."""
        if not gl_available() or not isinstance(self.mesh, QLabel):
            return
        from .panels.mesh3d import MeshPanel
        mesh = MeshPanel()
        mesh.set_color_mode(self.controls.mesh_combo.currentText())
        self.controls.mesh_color_changed.connect(mesh.set_color_mode)
        self.panes.replace_mesh(self.mesh, mesh)
        self.mesh.deleteLater()
        self.mesh = mesh

    def open_source(self, spec: str) -> None:
        width, height, fps = self.controls.resolution()
        self.source_label.setText(f"opening {spec}…")
        self._source_asked = spec
        self.worker.source_spec = spec
        self.capture.open(spec, width, height, fps)

    # ---- start-up progress ---------------------------------------------------------------------
    def paintEvent(self, event) -> None:  # Qt override
        super().paintEvent(event)
        if "window" not in self.startup.marks:  # progress widgets repaint: not from inside a paint
            self.startup.mark("window")
            QTimer.singleShot(0, self._update_loading)
            QTimer.singleShot(0, self._start_threads)

    def _worker_ready(self) -> None:
        if self._reading_held:
            self._reading_held = False
            self.capture.set_paused(False)

    def _loading_step(self, message: str) -> None:
        self._loading = message
        self._update_loading()

    def _mark(self, step: str) -> None:
        if self.startup.mark(step):
            self._update_loading()

    def _first_frame_shown(self) -> None:
        summary = self.startup.summary()
        print(f"startup: {summary}", flush=True)
        self.statusBar().showMessage(f"ready · {summary}", 15_000)
        QTimer.singleShot(0, self.stats.build)
        QTimer.singleShot(0, self._add_mesh_view)

    def _update_loading(self) -> None:
        done = [f"✓ {STEPS[s]} ({t:.1f} s)" for s, t in self.startup.marks.items()]
        pending = [f"… {name}" for name in self.startup.pending()]
        self.video.set_loading("\n".join([f"Starting: {self._loading}", "", *done, *pending]),
                               self.startup.done, len(STEPS))

    # ---- slots ---------------------------------------------------------------------------------
    def _change_settings(self, changes: dict) -> None:
        self.settings = replace(self.settings, **changes)
        self.worker.set_settings(self.settings)

    def _switch_weights(self, weights: Path | None) -> None:
        self.messages.status(f"loading {weights or 'the shipped weights'}…")
        self.worker.set_weights(weights)

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
        self._mark("source")
        self._source_name = name
        self.source_spec = self._source_asked
        self.source_label.setText(f"{name} @ {fps:.0f} fps")
        self.controls.show_source(name)
        self.messages.source_opened()
        self.messages.status(f"opened {name}")

    def _capture_error(self, message: str) -> None:
        """A source failed: say so, and make the source box name what really plays."""
        self.messages.source_error(message)
        self.controls.show_source(self._source_name)

    def _estimator_ready(self, info) -> None:
        self._mark("dirnet")
        self.finetune.set_current(info.weights)
        self.controls.set_estimator_info(info)
        self.heatmaps.set_max_loops(info.max_loops)
        self.stats.set_max_loops(info.max_loops)

    def _on_result(self, processed: Processed) -> None:
        """Every processed frame: cheap bookkeeping only (drawing happens in _show)."""
        self.results += 1
        now = time.monotonic()
        self._result_times = (now if self.results == 1 else self._result_times[0], now)
        self.stats.add(processed)
        self.gestures.log_events(processed.result.hands)
        self.process_label.setText(f"processing {processed.fps:.0f} fps · {processed.latency_ms:.0f} ms")
        limit = self.config.max_frames
        if limit is not None and self.results == limit:
            QTimer.singleShot(300, self._finish)

    def _show(self, args: tuple) -> None:
        """Throttled (<= 30 Hz): redraw every panel from the newest result, all from that one."""
        (processed,) = args
        self.shown = processed
        hands = processed.result.hands
        self.video.set_image(processed.image)
        if hasattr(self.mesh, "set_hands"):
            self.mesh.set_hands(hands, [h.box.cx for h in hands])
        self.heatmaps.set_hand(hands[0] if hands else None, processed.result.frame)
        self.gestures.set_hands(hands)
        now = time.monotonic()
        if now - self._stats_drawn >= _STATS_PERIOD_S:
            self.stats.redraw()
            self._stats_drawn = now
        self.frames_shown += 1
        if self.startup.mark("frame"):
            self._first_frame_shown()

    # ---- actions -------------------------------------------------------------------------------
    def toggle_pause(self) -> None:
        self._reading_held = False  # the user decides from now on
        paused = not self.capture.is_paused()
        self.capture.set_paused(paused)
        self.messages.status("paused (Space resumes)" if paused else "resumed")

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def capture_gesture(self) -> None:
        self.panes.tabs.setCurrentIndex(1)
        if self.gestures.name_edit.text().strip():
            self.gestures.capture()
        else:
            self.gestures.name_edit.setFocus()
            self.messages.status("type the gesture's name, then press Enter")

    def reset_to_defaults(self) -> None:
        """Forget what was remembered and show the defaults: layout, controls and the pipeline's
        settings (the source playing stays until another is chosen)."""
        self.remembered.clear()
        defaults = self.defaults
        self.config = replace(self.config, **{name: getattr(defaults, name) for name in CONFIG_FIELDS})
        self.controls.apply_config(defaults)
        self.gestures.set_threshold(defaults.gesture_threshold)
        self.settings = settings_from_config(defaults)
        self.worker.set_settings(self.settings)
        if self.isFullScreen() or self.isMaximized():
            self.showNormal()
        self.panes.tabs.setCurrentIndex(0)
        fit_to_screen(self, self.panes)
        self.messages.status("layout and settings back to their defaults")

    def show_help(self) -> None:
        if self._help is None:
            self._help = HelpDialog(self.shortcuts, self)
        self._help.show()
        self._help.raise_()

    def _finish(self) -> None:
        """--max-frames reached: say the processing rate, show the last result, save the --screenshot
        if asked, then close."""
        first, last = self._result_times
        if last > first:
            print(f"processed {self.results} frames, {(self.results - 1) / (last - first):.1f} fps after "
                  "the first", flush=True)
        self._proxy.flush()
        if self.config.screenshot is not None:
            self.stats.build()  # (if the first frame's timer has not yet)
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
        self._start_pending = False  # closed before the first paint: never start them
        self.finetune.job.stop()  # the child removes what it wrote
        self.capture.stop()
        self.worker.stop()

    def closeEvent(self, event) -> None:  # Qt override
        window_memory.save(self)
        self.stop_threads()
        super().closeEvent(event)

