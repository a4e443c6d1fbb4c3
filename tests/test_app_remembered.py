"""The real window keeps its layout and choices between runs, in an INI file the test owns."""
from __future__ import annotations

from dataclasses import asdict, replace

import cv2
import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtGui import QAction  # noqa: E402
from PyQt6.QtWidgets import QMessageBox  # noqa: E402

from app.config import parse_args  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from tests.test_app_widgets import _answer  # noqa: E402


def _open(qtbot, tmp_path, *argv: str) -> MainWindow:
    """A window as `python main.py ARGV` opens it, remembering in tmp_path/app.ini."""
    config = parse_args(["--gestures", str(tmp_path / "gestures.json"), *argv])
    window = MainWindow(replace(config, settings_file=tmp_path / "app.ini"))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: "window" in window.startup.marks, timeout=10_000)
    return window


def _state(window: MainWindow) -> dict:
    """Everything the window should remember, as the user sees it and as the pipeline uses it."""
    c = window.controls
    return {
        "pipeline": asdict(window.settings), "exit": c.exit_combo.currentData(),
        "tau_var": round(c.tau_var.value(), 3), "smoothing": c.smoothing_box.isChecked(),
        "min_cutoff": round(c.min_cutoff.value(), 3), "beta": round(c.beta.value(), 4),
        "mirror": c.mirror_check.isChecked(), "mediapipe": c.mediapipe_check.isChecked(),
        "mesh": c.mesh_combo.currentText(), "mode": c.resolution(), "record_root": c.record_root,
        "threshold": window.gestures.threshold.value(), "size": (window.width(), window.height()),
        "panes": window.splitter.sizes(), "centre": window.centre.sizes(), "tab": window.tabs.currentIndex(),
    }


_LAYOUT = ("size", "panes", "centre")


def _same(state: dict, expected: dict) -> bool:
    """Equal, the layout within 30 px: Qt's offscreen platform restores a window as large as its
    screen 25 px lower and shrinks it to fit (an X display restores it exactly)."""
    near = all(abs(a - b) <= 30 for key in _LAYOUT for a, b in zip(state[key], expected[key]))
    return near and {k: v for k, v in state.items() if k not in _LAYOUT} == \
        {k: v for k, v in expected.items() if k not in _LAYOUT}


def _photos(folder):
    folder.mkdir()
    for i in range(2):
        image = np.full((120, 160, 3), 40 * (i + 1), np.uint8)
        cv2.imwrite(str(folder / f"{i}.png"), image)
    return folder


def test_choices_and_layout_survive_a_restart_the_command_line_wins_and_reset_restores_defaults(qtbot, tmp_path):
    first = _open(qtbot, tmp_path)
    defaults = _state(first)
    c = first.controls
    c.exit_combo.setCurrentIndex(c.exit_combo.findData("variance"))
    c.tau_var.set_value(c.tau_var.value() * 2)
    c.smoothing_box.setChecked(False)
    c.min_cutoff.set_value(0.3)
    c.beta.set_value(0.2)
    c.mirror_check.setChecked(True)
    c.mediapipe_check.setChecked(True)
    c.mesh_combo.setCurrentText("uncertainty")
    c.resolution_combo.setCurrentText("640x480")
    c.fps_spin.setValue(15)
    c.set_record_root(tmp_path / "sessions")
    first.gestures.threshold.setValue(75)
    first.resize(760, 700)  # inside the offscreen screen (800x800), above the minimum width
    first.splitter.setSizes([300, 400, 200])
    first.centre.setSizes([300, 250])
    first.tabs.setCurrentIndex(1)
    photos = _photos(tmp_path / "photos")
    first.open_source(str(photos))
    qtbot.waitUntil(lambda: first.controls.source_name() == f"{photos.name}/", timeout=30_000)
    qtbot.wait(50)
    changed = _state(first)
    assert [key for key in changed if changed[key] == defaults[key]] == []  # every one of them moved
    first.close()

    second = _open(qtbot, tmp_path)
    assert _state(second) == changed and second.config.source == str(photos)
    second.close()

    # flags beat the file for this run, and a flag left alone does not replace what is remembered
    third = _open(qtbot, tmp_path, "--exit", "gate", "--source", "demo", "--min-cutoff", "2",
                  "--record", str(tmp_path / "elsewhere"))
    assert third.controls.record_root == tmp_path / "elsewhere"
    assert third.controls.exit_combo.currentData() == "gate" and third.settings.exit_mode == "gate"
    assert third.settings.min_cutoff == 2.0 and third.config.source == "demo"
    assert third.settings.beta == pytest.approx(0.2, rel=1e-3) and third.controls.mirror_check.isChecked()
    third.close()
    fourth = _open(qtbot, tmp_path)
    assert _state(fourth) == changed and fourth.config.source == str(photos)

    (reset,) = [a for a in fourth.findChildren(QAction) if a.text().startswith("Reset layout and settings")]
    _answer(QMessageBox.StandardButton.No)  # the menu asks first
    reset.trigger()
    assert _state(fourth) == changed
    _answer(QMessageBox.StandardButton.Yes)
    reset.trigger()
    qtbot.wait(50)
    assert _state(fourth) == defaults
    fourth.close()
    fifth = _open(qtbot, tmp_path)
    assert _same(_state(fifth), defaults) and fifth.config.source == "auto"
    fifth.close()


def test_a_remembered_source_that_is_gone_gives_way_to_the_default(qtbot, tmp_path):
    photos = _photos(tmp_path / "photos")
    window = _open(qtbot, tmp_path)
    window.open_source(str(photos))
    qtbot.waitUntil(lambda: window.controls.source_name() == f"{photos.name}/", timeout=30_000)
    window.close()
    for image in photos.iterdir():
        image.unlink()
    photos.rmdir()
    again = _open(qtbot, tmp_path)
    assert again.config.source == "auto" and str(photos) in again.video.message()
    again.close()


def test_fresh_remembers_nothing(qtbot, tmp_path):
    window = MainWindow(parse_args(["--fresh", "--gestures", str(tmp_path / "g.json")]))
    qtbot.addWidget(window)
    window.controls.exit_combo.setCurrentIndex(window.controls.exit_combo.findData("none"))
    window.close()
    assert window.config.settings_file is None and list(tmp_path.iterdir()) == []
