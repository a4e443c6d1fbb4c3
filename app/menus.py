"""The window's menus and keyboard shortcuts, from one table (the help lists the same keys)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from PyQt6.QtGui import QAction, QKeySequence

from .help_dialog import show_about
from .window_memory import ask_reset

if TYPE_CHECKING:
    from .main_window import MainWindow

__all__ = ["add_menus"]


def add_menus(window: MainWindow) -> list[tuple[str, str]]:
    """Fill the window's menu bar; returns (description, key) pairs for the help."""
    c, g = window.controls, window.gestures
    menus = {
        "&Session": [("Record / stop recording", "R", c.record_button.toggle),
                     ("Pause / resume", "Space", window.toggle_pause),
                     ("Reset layout and settings to defaults…", "", lambda: ask_reset(window)),
                     ("Quit", "Ctrl+Q", window.close)],
        "&Model": [("Next exit mode (gate, variance, none)", "E", c.cycle_exit_mode)],
        "&View": [("Show MediaPipe's landmarks", "M", c.mediapipe_check.toggle),
                  ("Full screen", "F11", window.toggle_full_screen)],
        "&Gestures": [("Capture a gesture (type its name first)", "G", window.capture_gesture),
                      ("Undo the last gesture delete", "Ctrl+Z", g.undo_delete)],
        "&Help": [("Help: panels and shortcuts", "F1", window.show_help),
                  ("About", "", lambda: show_about(window))],
    }
    shortcuts = []
    for title, entries in menus.items():
        menu = window.menuBar().addMenu(title)
        for text, key, slot in entries:
            action = QAction(text, window)
            if key:
                action.setShortcut(QKeySequence(key))
                shortcuts.append((text, key))
            # triggered passes `checked`; none of these slots takes it
            action.triggered.connect(lambda _checked=False, slot=slot: slot())
            menu.addAction(action)
    return shortcuts
