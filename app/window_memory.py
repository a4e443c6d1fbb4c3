"""What the window restores when it opens and saves when it closes: its layout and the choices its
controls hold (the INI file itself is app/remembered.py), and the question before a reset."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PyQt6.QtCore import QByteArray
from PyQt6.QtWidgets import QMessageBox

from .remembered import CONFIG_FIELDS

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["restore", "save", "ask_reset"]


def restore(window: MainWindow) -> None:
    """The last run's recording folder, mesh colour, size, splitter positions and tab
    (restoreGeometry keeps the window on the screen it finds now)."""
    remembered, controls = window.remembered, window.controls
    folder = remembered.get("record_folder", str)
    if folder and window.config.record is None:  # --record DIR names this run's folder
        controls.set_record_root(Path(folder))
    controls.mesh_combo.setCurrentText(remembered.get("mesh_color", str) or "skin")
    geometry = remembered.get("window/geometry", QByteArray)
    if geometry is not None:
        window.restoreGeometry(geometry)
    for name, splitter in window.panes.splitters().items():
        state = remembered.get(f"window/{name}", QByteArray)
        if state is not None:
            splitter.restoreState(state)
    window.panes.tabs.setCurrentIndex(remembered.get("window/tab", int) or 0)


def save(window: MainWindow) -> None:
    """Save the layout and every choice for the next run."""
    controls, config = window.controls, window.config
    width, height, fps = controls.resolution()
    values = {name: getattr(window.settings, name) for name in CONFIG_FIELDS if hasattr(window.settings, name)}
    values.update(source=window.source_spec or config.source, width=width, height=height, fps=fps,
                  mirror=controls.mirror_check.isChecked(),
                  mesh_color=controls.mesh_combo.currentText(), **{"window/tab": window.panes.tabs.currentIndex()})
    if controls.record_root != config.record:  # --record DIR is for this run only
        values["record_folder"] = controls.record_root
    if not window.isFullScreen():  # a full-screen geometry would open the next run full-screen-sized
        values["window/geometry"] = window.saveGeometry()
    values.update({f"window/{name}": s.saveState() for name, s in window.panes.splitters().items()})
    window.remembered.save(values, config)


def ask_reset(window: MainWindow) -> None:
    answer = QMessageBox.question(
        window, "Reset to defaults", "Put the window's layout and every setting (exit, smoothing, "
        "view, camera mode, recording folder) back to the defaults? Your gestures are kept.")
    if answer == QMessageBox.StandardButton.Yes:
        window.reset_to_defaults()
