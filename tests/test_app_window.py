"""The main window on Qt's offscreen platform (its 3D view is a placeholder there; see test_app_gl)."""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import QObject, Qt, QUrl, pyqtSlot  # noqa: E402
from PyQt6.QtGui import QDesktopServices  # noqa: E402
from PyQt6.QtWidgets import (  # noqa: E402
    QAbstractButton, QAbstractSlider, QAbstractSpinBox, QApplication, QComboBox, QGroupBox, QLineEdit,
    QListWidget,
)

from app.config import AppConfig  # noqa: E402
from app.drawing import DrawingSpec, annotate  # noqa: E402
from app.help_dialog import APP_DOCS  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.panels.colorbar import SIGMA_MAX_MM, uncertainty_rgba  # noqa: E402
from app.pipeline import MEDIAPIPE_EVERY  # noqa: E402
from app.sources import list_cameras  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LOAD_MS = 180_000  # loading torch, DIR-Net and MediaPipe on a busy 2-core machine


def _window(qtbot, tmp_path, **overrides) -> MainWindow:
    config = AppConfig(**{"source": "demo", "width": 320, "height": 240,
                          "gestures": tmp_path / "gestures.json", **overrides})
    window = MainWindow(config)
    qtbot.addWidget(window)
    return window


def test_the_window_module_imports_neither_torch_nor_mediapipe_nor_opengl_nor_pyav():
    """The window must paint at once: the slow imports belong to the worker thread (PyOpenGL to the
    3D view, built after the first frame; PyAV to the first recording)."""
    out = subprocess.run([sys.executable, "-c", "import sys, app.main_window; "
                          "print(*(m in sys.modules for m in ('torch', 'mediapipe', 'OpenGL', 'av')))"],
                         capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.split() == ["False"] * 4


def test_window_shows_progress_then_one_consistent_frame_and_reports_missing_weights(qtbot, tmp_path, capsys):
    window = _window(qtbot, tmp_path, weights=Path("/no/such/weights.safetensors"))
    window.show()
    window.start()
    qtbot.waitUntil(lambda: "window" in window.startup.marks, timeout=10_000)
    assert window.video.image() is None and window.video._loading_text.text().startswith("Starting")
    qtbot.waitUntil(lambda: window.frames_shown >= 3 and bool(window.shown.result.hands), timeout=LOAD_MS)
    # the missing weights were reported above the video and on stderr, and the app kept going
    assert "/no/such/weights.safetensors" in capsys.readouterr().err
    marks = window.startup.marks
    assert set(marks) == {"window", "dirnet", "mediapipe", "source", "frame"} and marks["window"] < marks["frame"]
    assert window.startup.frame_cpu > 0 and "CPU" in window.startup.summary()
    qtbot.waitUntil(lambda: window.stats.columns() > 0, timeout=10_000)  # the plots, after the first frame
    assert window.source_label.text().startswith("demo")

    # every panel shows the same result: its frame with its whole overlay, and its loops
    shown = window.shown
    np.testing.assert_array_equal(window.video.image(), shown.image)
    np.testing.assert_array_equal(shown.image, annotate(shown.result))
    trace = shown.result.hands[0].pose.trace
    captions = window.heatmaps.titles()
    assert all(f"exit {loop.exit_prob:.2f}" in captions[l] for l, loop in enumerate(trace))
    assert all("skipped" in caption for caption in captions[len(trace):])

    window.controls.exit_combo.setCurrentIndex(window.controls.exit_combo.findData("none"))
    window.controls.loops_spin.setValue(2)
    assert window.settings.exit_mode == "none" and window.settings.max_loops == 2
    later = []
    window.worker.result_ready.connect(later.append)
    # the live change reaches the worker's pipeline: every hand now runs exactly 2 loops
    qtbot.waitUntil(lambda: any(p.result.hands for p in later[2:]), timeout=120_000)
    assert all(p.result.loops == [2] * len(p.result.hands) for p in later[2:])
    window.close()
    assert not window.capture.isRunning() and not window.worker.isRunning()


class _FileManager(QObject):
    """Receives the file URLs the app asks Qt to open (QDesktopServices.setUrlHandler)."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: list[str] = []

    @pyqtSlot(QUrl)
    def show(self, url: QUrl) -> None:
        self.opened.append(url.toLocalFile())


def _times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [float(f.time) for f in container.decode(video=0)]


def test_window_recording_shows_rec_keeps_every_frame_and_plays_in_real_time(qtbot, tmp_path):
    config = AppConfig(source="demo", width=320, height=240, record=tmp_path / "sessions",
                       gestures=tmp_path / "gestures.json")
    window = MainWindow(config)
    qtbot.addWidget(window)
    window.show()
    captured = []  # every frame the capture thread delivers, as it delivers it
    window.capture.frame_ready.connect(lambda f, t, i: captured.append(i), Qt.ConnectionType.DirectConnection)
    with qtbot.waitSignal(window.worker.recording_changed, timeout=180_000) as sig:
        window.start()
    started, session = time.monotonic(), Path(sig.args[0])
    qtbot.waitUntil(lambda: window.results >= 3, timeout=120_000)
    qtbot.wait(2500)
    assert re.fullmatch(r"● REC 00:0[2-9]", window.video.recording_text())
    files = _FileManager()
    QDesktopServices.setUrlHandler("file", files, "show")
    try:
        window.controls.open_folder_button.click()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert files.opened == [str(session)]
    wall = time.monotonic() - started
    window.close()
    assert window.video.recording_text() == ""
    raw, annotated = _times(session / "raw.mp4"), _times(session / "annotated.mp4")
    lines = [json.loads(x) for x in (session / "frames.jsonl").read_text().splitlines()]
    meta = json.loads((session / "session.json").read_text())
    first = lines[0]["source_frame"] - lines[0]["frame"]  # the capture frame that opens raw.mp4
    assert all(x["source_frame"] - x["frame"] == first for x in lines)
    assert len(raw) == len([i for i in captured if i >= first]) == meta["frames"]  # every one of them
    assert raw == annotated and raw[-1] == pytest.approx(wall, rel=0.1)  # plays as long as it ran
    assert 3 <= len(lines) <= len(raw) and meta["source"] == "demo" and meta["weights_trained"]


def test_unusable_record_folder_is_reported_at_once(qtbot, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    config = AppConfig(source="demo", width=320, height=240, record=blocker / "sessions",
                       gestures=tmp_path / "gestures.json")
    window = MainWindow(config)
    qtbot.addWidget(window)
    window.show()
    window.start()
    assert window.video.message() == f"cannot record into {blocker}/sessions: Not a directory"
    assert "Not a directory" in capsys.readouterr().err and not window.controls.record_button.isChecked()
    window.close()


def test_broken_gesture_files_do_not_stop_the_window(qtbot, tmp_path, capsys):
    store = tmp_path / "gestures.json"
    store.write_text("{broken")
    store.with_suffix(".recovered.json").write_text("[]")
    window = MainWindow(AppConfig(source="demo", gestures=store))
    qtbot.addWidget(window)
    assert f"using {tmp_path}/gestures.recovered-2.json" in capsys.readouterr().err
    window.close()


def test_sigterm_closes_the_window_finalises_the_recording_and_exits_143(tmp_path):
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, str(root / "main.py"), "--source", "demo", "--resolution",
                             "320x240", "--record", str(tmp_path), "--gestures", str(tmp_path / "g.json"),
                             "--fresh"],
                            cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not any(p.stat().st_size > 10_000 for p in tmp_path.glob("*/raw.recording.mp4")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-2000:]
            time.sleep(0.2)  # the window runs and records
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Traceback" not in err, err[-2000:]
    (session,) = tmp_path.glob("session-*")
    assert (session / "raw.mp4").is_file() and not list(session.glob("*.recording.mp4"))


def test_window_says_what_plays_when_a_source_fails(qtbot, tmp_path):
    window = _window(qtbot, tmp_path)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.frames_shown >= 1, timeout=LOAD_MS)
    window.gestures.capture()  # no name typed: said in the window, not only in the status bar
    assert window.video.message() == "type a name for the gesture first"
    window.open_source("/no/such/clip.mp4")
    qtbot.waitUntil(lambda: "/no/such/clip.mp4" in window.video.message(), timeout=10_000)
    assert window.video.message().endswith("still showing demo") and window.video.message_kind() == "error"
    assert window.controls.source_name() == "Demo (animated hand)"
    if not list_cameras():  # this machine has no camera: "auto" falls back to the demo and says so
        window.open_source("auto")
        qtbot.waitUntil(lambda: window.video.message_kind() == "notice" and bool(window.video.message()),
                        timeout=30_000)
        assert "no camera found: showing the built-in demo" in window.video.message()
    window.close()


def test_window_fits_a_1280x720_screen(qtbot, tmp_path):
    window = _window(qtbot, tmp_path)
    hint = window.minimumSizeHint()
    assert hint.width() <= 1280 and hint.height() <= 720
    window.resize(1280, 720)
    window.show()
    qtbot.waitUntil(lambda: window.width() == 1280 and window.heatmaps.columns() > 0, timeout=5000)
    qtbot.wait(50)
    inside = window.rect()

    def on_screen(widget) -> bool:
        top_left = widget.mapTo(window, widget.rect().topLeft())
        return widget.isVisible() and inside.contains(top_left) and \
            inside.contains(widget.mapTo(window, widget.rect().bottomRight()))
    assert all(on_screen(w) for w in (window.video, window.stats, window.mesh, window.heatmaps, window.tabs))
    assert window.video.height() >= 300 and window.stats.height() >= 150
    assert all(on_screen(tile) and min(tile.width(), tile.height()) >= 60 for tile in window.heatmaps._tiles)
    window.tabs.setCurrentIndex(1)  # gestures have a tab of their own, not a place below the fold
    qtbot.wait(20)
    assert on_screen(window.gestures.list) and window.gestures.list.height() >= 150


def test_every_control_has_a_tooltip(qtbot, tmp_path):
    window = _window(qtbot, tmp_path)
    controls = [w for kind in (QAbstractButton, QComboBox, QAbstractSlider, QAbstractSpinBox, QLineEdit,
                               QListWidget, QGroupBox)
                for panel in (window.controls, window.gestures) for w in panel.findChildren(kind)
                if not isinstance(w, QGroupBox) or w.isCheckable()]  # a plain group box is a frame
    assert len(controls) > 25

    def tip(widget) -> str:
        while widget is not None and not widget.toolTip():
            widget = widget.parentWidget()
        return widget.toolTip() if widget is not None else ""
    missing = [f"{type(w).__name__} {getattr(w, 'text', lambda: '')()!r}" for w in controls
               if not tip(w) and w.parentWidget() is not None and type(w).__name__ != "QScrollBar"]
    assert missing == []
    assert "log scale" in window.controls.tau_gate.toolTip().lower()
    assert "mm²" in window.controls.tau_var.toolTip() and "Hz" in window.controls.min_cutoff.toolTip()


def test_shortcuts_help_and_the_uncertainty_colour_scale(qtbot, tmp_path):
    window = _window(qtbot, tmp_path)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5000)  # shortcuts need it
    qtbot.keyClick(window, Qt.Key.Key_E)  # gate -> variance
    assert window.controls.exit_combo.currentData() == "variance"
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert window.controls.mediapipe_check.isChecked() and window.settings.show_mediapipe
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.capture.is_paused()
    qtbot.keyClick(window, Qt.Key.Key_F1)
    assert window._help is not None and window._help.isVisible()
    text = window._help.browser.toPlainText()
    assert all(key in text for _, key in window.shortcuts) and "docs/APP.md" in text and APP_DOCS.exists()
    assert {"R", "Space", "E", "M", "G", "F11", "F1"} <= {key for _, key in window.shortcuts}

    assert not window.colorbar.isVisible()
    window.controls.mesh_combo.setCurrentText("uncertainty")
    qtbot.waitUntil(window.colorbar.isVisible, timeout=2000)
    image = window.colorbar.grab().toImage()
    y = 9  # the bar's middle row
    ends = [image.pixelColor(x, y) for x in (9, image.width() - 10)]
    want = uncertainty_rgba(np.array([0.0, SIGMA_MAX_MM]))
    for got, (r, g, b, _) in zip(ends, want):
        assert abs(got.redF() - r) < 0.08 and abs(got.greenF() - g) < 0.08 and abs(got.blueF() - b) < 0.08


def test_a_broken_gesture_store_is_said_above_the_video(qtbot, tmp_path):
    (tmp_path / "gestures.json").write_text("{not json")
    window = _window(qtbot, tmp_path)
    assert "is not a gesture store" in window.video.message()
    assert str(tmp_path / "gestures.recovered.json") in window.gestures.path_label.text()


def test_mediapipe_landmarks_show_in_their_own_style_from_one_pass_in_three(qtbot, tmp_path):
    window = _window(qtbot, tmp_path, show_mediapipe=True)
    results = []
    window.worker.result_ready.connect(results.append)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: len(results) >= 12 and window.shown is not None
                    and bool(window.shown.result.mediapipe), timeout=LOAD_MS)
    image, spec = window.video.image(), DrawingSpec()
    near = np.abs(image.astype(int) - spec.mediapipe_color).max(-1) < 60  # thin lines are antialiased
    assert near.sum() > 50  # magenta marks on the hand
    corner = image[-int(0.15 * image.shape[0]):, :int(0.6 * image.shape[1])]
    assert np.all(corner == spec.label_color, axis=-1).mean() > 0.1  # the legend
    # MediaPipe runs once per frame at most (a detection's pass is reused), and between detections
    # one frame in MEDIAPIPE_EVERY
    timings = [p.result.timings for p in results]
    passes = [i for i, t in enumerate(timings) if "detect" in t or "mediapipe" in t]
    assert not any("detect" in t and "mediapipe" in t for t in timings)
    assert all(i - previous == MEDIAPIPE_EVERY for previous, i in zip(passes, passes[1:])
               if "mediapipe" in timings[i])
    assert sum("mediapipe" in t for t in timings) >= 2 and all(p.result.mediapipe is not None for p in results)
    window.close()
