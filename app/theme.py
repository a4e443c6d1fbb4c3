"""A dark Fusion theme shared by the Qt widgets and pyqtgraph, so the window reads as one app."""
from __future__ import annotations

import pyqtgraph as pg
from PyQt6.QtGui import QColor, QPalette
from PyQt6.QtWidgets import QApplication

__all__ = ["apply_theme"]

_WINDOW, _BASE, _TEXT, _ACCENT = "#202328", "#16181c", "#e6e8eb", "#7e57c2"

_STYLE = f"""
QGroupBox {{ border: 1px solid #33373e; border-radius: 6px; margin-top: 14px; padding: 6px 6px 4px 6px;
             font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 8px; padding: 0 4px; color: #b39ddb; }}
QLabel#hint {{ color: #8b949e; font-size: 8pt; }}
QLabel#gesture {{ font-size: 13pt; font-weight: 700; color: #ffffff; padding: 0px; }}
QPushButton {{ padding: 4px 10px; border-radius: 4px; background: #2d3137; border: 1px solid #3b4048; }}
QPushButton:hover {{ background: #363b42; }}
QPushButton:disabled {{ color: #6b7280; }}
QPushButton#record:checked {{ background: #c62828; border-color: #e53935; color: white; }}
QProgressBar {{ border: 1px solid #3b4048; border-radius: 4px; text-align: center; height: 14px; }}
QProgressBar::chunk {{ background: {_ACCENT}; border-radius: 3px; }}
QListWidget#events {{ font-size: 8pt; color: #aab2bb; }}
QStatusBar QLabel {{ color: #aab2bb; padding: 0 6px; }}
QScrollArea {{ border: none; }}
"""


def apply_theme(app: QApplication) -> None:
    """Fusion style, dark palette, small stylesheet, and matching pyqtgraph defaults."""
    app.setStyle("Fusion")
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: _WINDOW, QPalette.ColorRole.WindowText: _TEXT,
        QPalette.ColorRole.Base: _BASE, QPalette.ColorRole.AlternateBase: _WINDOW,
        QPalette.ColorRole.Text: _TEXT, QPalette.ColorRole.Button: "#2d3137",
        QPalette.ColorRole.ButtonText: _TEXT, QPalette.ColorRole.Highlight: _ACCENT,
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: _BASE,
        QPalette.ColorRole.ToolTipText: _TEXT, QPalette.ColorRole.PlaceholderText: "#6b7280",
    }
    for role, color in colors.items():
        palette.setColor(role, QColor(color))
    app.setPalette(palette)
    app.setStyleSheet(_STYLE)
    pg.setConfigOptions(background=_BASE, foreground="#9aa4ad", antialias=True, imageAxisOrder="row-major")
