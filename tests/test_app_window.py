"""The main window on Qt's offscreen platform (its 3D view is a placeholder there; see test_app_gl)."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

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
