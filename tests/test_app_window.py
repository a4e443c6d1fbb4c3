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
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import QObject, Qt, QUrl, pyqtSlot  # noqa: E402
from PyQt6.QtGui import QDesktopServices  # noqa: E402

from app.config import AppConfig  # noqa: E402
from app.main_window import MainWindow  # noqa: E402


def test_window_runs_the_demo_reports_missing_weights_and_stops(qtbot, tmp_path, capsys):
    config = AppConfig(source="demo", width=320, height=240, weights=Path("/no/such/weights.safetensors"),
                       gestures=tmp_path / "gestures.json")
    window = MainWindow(config)
    qtbot.addWidget(window)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.frames_shown >= 2, timeout=180_000)
    # the missing weights were reported in the window and on stderr, and the app kept going
    assert "/no/such/weights.safetensors" in capsys.readouterr().err
    assert window.source_label.text().startswith("demo")
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
                             "320x240", "--record", str(tmp_path), "--gestures", str(tmp_path / "g.json")],
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
