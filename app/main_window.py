"""MainWindow: lays out the panels and wires the capture thread, the worker and the widgets.

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
from PyQt6.QtCore import QByteArray, Qt, QTimer
from PyQt6.QtGui import QAction, QGuiApplication, QKeySequence
from PyQt6.QtWidgets import (
    QLabel, QMainWindow, QMessageBox, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget,
)

from .capture import CaptureThread
from .config import AppConfig
from .controls import ControlPanel
from .finetune_panel import FinetunePanel
from .gesture_panel import GesturePanel
from .gestures import open_store
from .headless import settings_from_config
from .help_dialog import HelpDialog, show_about
from .panels.colorbar import ColorBar
from .panels.heatmaps import HeatmapPanel
from .panels.plots import StatsPanel
from .panels.video import VideoPanel
from .recording import RecordingError, check_writable
from .remembered import CONFIG_FIELDS, Remembered
from .startup import STEPS, StartupLog
from .worker import InferenceWorker, Processed

__all__ = ["MainWindow", "gl_available"]

_BANNER_S = 10.0  # an error stays above the video this long unless it repeats
_STATS_PERIOD_S = 0.2  # plots redraw 5x a second: repainting their axes costs ~5 ms each time
_DEFAULT_SIZE = (1600, 960)  # shrunk to the screen: the layout works from 1280x720 up


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
        self._last_error = ""
        self._error_until = 0.0
        self._recording_since: float | None = None  # monotonic start of the session being recorded
        self._notice = ""  # e.g. "no camera found: showing the built-in demo"; until the source changes
        self._source_name: str | None = None
        self._source_asked: str | None = None  # the spec last given to the capture thread
        self._source_spec: str | None = None  # the spec of the source playing (remembered on close)
        self._capture_message = ""  # the last source failure: cleared when a source opens
        self._reading_held = False  # capture waits for the worker to finish starting
        self._start_pending = False  # start() was called; the threads start after the first paint
        self._record_at_start = False  # --record given and its folder usable
        self._loading = "opening the window…"
        # a broken store file is kept for the user; edits go elsewhere, and the window says so
        store, store_problem = open_store(config.gestures)

        self.controls = ControlPanel(config)
        if config.record is None:  # --record DIR names this run's folder
            self.controls.set_record_root(self._remembered_path("record_folder") or self.controls.record_root)
        self.controls.mesh_combo.setCurrentText(self.remembered.get("mesh_color", str) or "skin")
        self.gestures = GesturePanel(store, config.gesture_threshold)
        self.finetune = FinetunePanel(config.personal_weights, config.finetune_minutes, config.weights)
        self.video = VideoPanel()
        self.stats = StatsPanel(deferred=True)  # its plots come after the first frame (their cost)
        self.heatmaps = HeatmapPanel()
        self.colorbar = ColorBar()
        self.colorbar.setVisible(self.controls.mesh_combo.currentText() == "uncertainty")
        # the 3D view (PyOpenGL, a GL context) is built after the first frame: see _add_mesh_view
        self.mesh: QWidget = QLabel("3D view: starting…" if gl_available() else
                                    "3D view needs OpenGL (not available on this display)")
        self.mesh.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout()

        self.capture = CaptureThread(self)
        self.worker = InferenceWorker(config.weights, config.device, self.settings, config.mirror,
                                      config.threads, self)
        self._connect()
        self._proxy = pg.SignalProxy(self.worker.result_ready, rateLimit=30, slot=self._show)
        self._status_labels()
        self._help: HelpDialog | None = None
        self.shortcuts = self._actions()
        # Python only sees Ctrl+C while it runs; a slow tick lets the SIGINT handler fire.
        self._tick = QTimer(self)
        self._tick.timeout.connect(self._expire_banner)
        self._tick.timeout.connect(self._show_recording_time)
        self._tick.start(250)
        self.gestures.gestures_changed.emit(dict(store.gestures))
        if store_problem:
            self._error(store_problem)
        for problem in self.remembered.problems:
            self._error(problem)
        self._update_loading()

    # ---- layout --------------------------------------------------------------------------------
    def _layout(self) -> None:
        self.tabs = QTabWidget()
        self.tabs.addTab(_scrolled(self.controls), "Controls")
        self.tabs.addTab(_scrolled(self.gestures), "Gestures")
        self.tabs.addTab(_scrolled(self.finetune), "Your hand")
        self.tabs.setMinimumWidth(270)
        self.tabs.setMaximumWidth(400)

        self.centre = QSplitter(Qt.Orientation.Vertical)
        self.centre.addWidget(self.video)
        self.centre.addWidget(self.stats)
        self.stats.setMinimumHeight(150)

        self.right = QSplitter(Qt.Orientation.Vertical)
        self._mesh_box = _titled("3D hand mesh (drag to rotate, wheel to zoom)", self.mesh, self.colorbar)
        self.right.addWidget(self._mesh_box)
        self.right.addWidget(_titled("Per-loop 2D uncertainty of the first hand (current frame)", self.heatmaps))

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for widget in (self.tabs, self.centre, self.right):
            self.splitter.addWidget(widget)
            self.splitter.setCollapsible(self.splitter.indexOf(widget), False)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setStretchFactor(2, 2)
        self.setCentralWidget(self.splitter)
        self._fit_to_screen()
        self._restore_layout()

    def _fit_to_screen(self) -> None:
        """Default size, shrunk to the screen's free area; panes shared in proportion."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        free = screen.availableGeometry() if screen is not None else None
        width = min(_DEFAULT_SIZE[0], free.width()) if free else _DEFAULT_SIZE[0]
        height = min(_DEFAULT_SIZE[1], free.height()) if free else _DEFAULT_SIZE[1]
        self.resize(width, height)
        side = max(280, min(340, width // 5))
        self.splitter.setSizes([side, (width - side) * 3 // 5, (width - side) * 2 // 5])
        self.centre.setSizes([height * 63 // 100, height * 37 // 100])
        self.right.setSizes([height // 2, height // 2])

    def _restore_layout(self) -> None:
        """The size, splitter positions and tab of the last run (restoreGeometry keeps the window
        on the screen it finds now)."""
        geometry = self.remembered.get("window/geometry", QByteArray)
        if geometry is not None:
            self.restoreGeometry(geometry)
        for name, splitter in self._splitters().items():
            state = self.remembered.get(f"window/{name}", QByteArray)
            if state is not None:
                splitter.restoreState(state)
        self.tabs.setCurrentIndex(self.remembered.get("window/tab", int) or 0)

    def _splitters(self) -> dict[str, QSplitter]:
        return {"panes": self.splitter, "centre": self.centre, "right": self.right}

    def _remembered_path(self, key: str) -> Path | None:
        value = self.remembered.get(key, str)
        return Path(value) if value else None

    def remember(self) -> None:
        """Save the layout and every choice for the next run (on closing the window)."""
        width, height, fps = self.controls.resolution()
        values = {name: getattr(self.settings, name) for name in CONFIG_FIELDS if hasattr(self.settings, name)}
        values.update(source=self._source_spec or self.config.source, width=width, height=height, fps=fps,
                      mirror=self.controls.mirror_check.isChecked(),
                      mesh_color=self.controls.mesh_combo.currentText(), **{"window/tab": self.tabs.currentIndex()})
        if self.controls.record_root != self.config.record:  # --record DIR is for this run only
            values["record_folder"] = self.controls.record_root
        if not self.isFullScreen():  # a full-screen geometry would open the next run full-screen-sized
            values["window/geometry"] = self.saveGeometry()
        values.update({f"window/{name}": s.saveState() for name, s in self._splitters().items()})
        self.remembered.save(values, self.config)

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
        self.tabs.setCurrentIndex(0)
        self._fit_to_screen()
        self._status("layout and settings back to their defaults")

    def _ask_reset(self) -> None:
        answer = QMessageBox.question(
            self, "Reset to defaults", "Put the window's layout and every setting (exit, smoothing, "
            "view, camera mode, recording folder) back to the defaults? Your gestures are kept.")
        if answer == QMessageBox.StandardButton.Yes:
            self.reset_to_defaults()

    def _status_labels(self) -> None:
        self.source_label = QLabel("no source")
        self.capture_fps_label = QLabel("capture – fps")
        self.process_label = QLabel("processing – fps")
        bar = self.statusBar()
        for label in (self.source_label, self.capture_fps_label, self.process_label):
            bar.addPermanentWidget(label)

    def _actions(self) -> list[tuple[str, str]]:
        """Menus and keyboard shortcuts; returns (description, key) pairs for the help."""
        c, g = self.controls, self.gestures
        menus = {
            "&Session": [("Record / stop recording", "R", c.record_button.toggle),
                         ("Pause / resume", "Space", self.toggle_pause),
                         ("Reset layout and settings to defaults…", "", self._ask_reset),
                         ("Quit", "Ctrl+Q", self.close)],
            "&Model": [("Next exit mode (gate, variance, none)", "E", c.cycle_exit_mode)],
            "&View": [("Show MediaPipe's landmarks", "M", c.mediapipe_check.toggle),
                      ("Full screen", "F11", self.toggle_full_screen)],
            "&Gestures": [("Capture a gesture (type its name first)", "G", self._capture_gesture),
                          ("Undo the last gesture delete", "Ctrl+Z", g.undo_delete)],
            "&Help": [("Help: panels and shortcuts", "F1", self.show_help),
                      ("About", "", lambda: show_about(self))],
        }
        shortcuts = []
        for title, entries in menus.items():
            menu = self.menuBar().addMenu(title)
            for text, key, slot in entries:
                action = QAction(text, self)
                if key:
                    action.setShortcut(QKeySequence(key))
                    shortcuts.append((text, key))
                action.triggered.connect(lambda _checked=False, slot=slot: slot())
                menu.addAction(action)
        return shortcuts

    # ---- wiring --------------------------------------------------------------------------------
    def _connect(self) -> None:
        cap, worker = self.capture, self.worker
        direct = Qt.ConnectionType.DirectConnection  # thread-safe slots: skip the UI thread
        cap.frame_ready.connect(worker.submit, direct)
        cap.source_opened.connect(worker.source_changed, direct)
        cap.source_opened.connect(self._source_opened)
        cap.errored.connect(self._capture_error)
        cap.notice.connect(self._set_notice)
        cap.status.connect(self._status)
        cap.fps_updated.connect(lambda fps: self.capture_fps_label.setText(f"capture {fps:.0f} fps"))
        worker.result_ready.connect(self._on_result)
        worker.loading.connect(self._loading_step)
        worker.estimator_ready.connect(self._estimator_ready)
        worker.detector_ready.connect(lambda: self._mark("mediapipe"))
        worker.ready.connect(self._worker_ready)
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
        c.mesh_color_changed.connect(lambda mode: self.colorbar.setVisible(mode == "uncertainty"))
        g.capture_requested.connect(worker.capture_gesture)
        g.gestures_changed.connect(worker.set_gestures)
        g.errored.connect(self._error)
        f = self.finetune
        worker.recording_changed.connect(f.recording_changed)
        f.weights_requested.connect(self._switch_weights)
        f.errored.connect(self._error)

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
                self._error(str(exc))
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
        self._mesh_box.layout().replaceWidget(self.mesh, mesh)
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
        self._status(f"loading {weights or 'the shipped weights'}…")
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
        self._source_spec = self._source_asked
        self.source_label.setText(f"{name} @ {fps:.0f} fps")
        self.controls.show_source(name)
        self._notice = ""
        if self._last_error == self._capture_message:  # other errors (e.g. weights) stay up
            self._clear_error()
        self._update_banner()
        self._status(f"opened {name}")

    def _capture_error(self, message: str) -> None:
        """A source failed: say so, and make the source box name what really plays."""
        self._capture_message = message
        self._error(message)
        self.controls.show_source(self._source_name)

    def _set_notice(self, message: str) -> None:
        print(message, file=sys.stderr)
        self._notice = message
        self._update_banner()

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

    def _error(self, message: str) -> None:
        """Show a problem above the video and, once per distinct message, on stderr."""
        if message != self._last_error:
            print(message, file=sys.stderr)
        self._last_error = message
        self._error_until = time.monotonic() + _BANNER_S
        self._update_banner()
        self.statusBar().showMessage(message, int(_BANNER_S * 1000))

    def _update_banner(self) -> None:
        """An error if there is one, else the standing notice, else nothing."""
        if self._last_error:
            self.video.set_message(self._last_error, "error")
        else:
            self.video.set_message(self._notice, "notice")

    def _clear_error(self) -> None:
        self._last_error = ""
        self._update_banner()

    def _expire_banner(self) -> None:
        if self._last_error and time.monotonic() > self._error_until:
            self._clear_error()

    def _status(self, message: str) -> None:
        if message.endswith("is back"):
            self._clear_error()
        self.statusBar().showMessage(message, 5000)

    # ---- actions -------------------------------------------------------------------------------
    def toggle_pause(self) -> None:
        self._reading_held = False  # the user decides from now on
        paused = not self.capture.is_paused()
        self.capture.set_paused(paused)
        self._status("paused (Space resumes)" if paused else "resumed")

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def _capture_gesture(self) -> None:
        self.tabs.setCurrentIndex(1)
        if self.gestures.name_edit.text().strip():
            self.gestures.capture()
        else:
            self.gestures.name_edit.setFocus()
            self._status("type the gesture's name, then press Enter")

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
        self.remember()
        self.stop_threads()
        super().closeEvent(event)


def _titled(title: str, *widgets: QWidget) -> QWidget:
    """A small caption above widgets; the first one takes the spare height."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(4, 4, 4, 4)
    layout.setSpacing(2)
    label = QLabel(title)
    label.setObjectName("hint")
    layout.addWidget(label)
    for i, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if i == 0 else 0)
    return box


def _scrolled(widget: QWidget) -> QScrollArea:
    """`widget` in a vertical scroll area, so a short screen scrolls instead of clipping."""
    scroll = QScrollArea()
    scroll.setWidget(widget)
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return scroll
