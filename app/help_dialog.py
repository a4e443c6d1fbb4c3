"""Help and About: what the panels mean, the keyboard shortcuts, and where the full notes are."""
from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Sequence

from PyQt6.QtCore import QUrl
from PyQt6.QtWidgets import QDialog, QDialogButtonBox, QMessageBox, QTextBrowser, QVBoxLayout, QWidget

__all__ = ["APP_DOCS", "help_html", "HelpDialog", "show_about"]

APP_DOCS = Path(__file__).resolve().parents[1] / "docs" / "APP.md"

_PANELS = (
    ("Video (centre)", "The camera image with each hand's skeleton (one colour per finger), a 2-sigma "
     "ellipse per joint for DIR-Net's own 2D uncertainty, the crop box, and a label: hand, loops "
     "run, gesture. With View → Show MediaPipe's landmarks, MediaPipe's own are drawn as magenta "
     "dashes and rings (legend bottom left). Problems show in a red banner above it; an amber banner "
     "says when what plays is not what was asked for (e.g. the demo because no camera was found)."),
    ("Plots (below the video)", "Refiner loops per frame and their histogram, GFLOPs per frame, and "
     "the time each stage takes (ms) with the processing rate and the capture-to-screen latency."),
    ("3D mesh (right, top)", "The estimated hand mesh; drag to rotate, wheel to zoom. In uncertainty "
     "colour each vertex shows the predicted 3D standard deviation of its nearest joint (scale below it)."),
    ("Per-loop heatmaps (right, bottom)", "One image per refiner loop on the current frame: each joint "
     "as a Gaussian of its predicted 2D spread, as in the paper's Fig. 4; the caption gives the mean "
     "sigma and the gate's exit probability. Loops the exit skipped say so."),
    ("Controls tab", "Source, the dynamic exit (mode, τ_gate, τ_var, max loops: changes apply to the "
     "next frame), One Euro smoothing, view options and recording. Hover any control for its meaning "
     "and unit. The window remembers these, its layout and the source for the next run; Session → "
     "Reset layout and settings puts them back to the defaults."),
    ("Gestures tab", "The recognised gesture, your gesture list (capture, rename, delete with undo, "
     "reset to the starters, import, export) and a log of gesture changes."),
)


def help_html(shortcuts: Sequence[tuple[str, str]]) -> str:
    """The help text: panels, then (description, key) shortcuts, then a link to docs/APP.md."""
    panels = "".join(f"<dt><b>{escape(name)}</b></dt><dd>{escape(text)}</dd>" for name, text in _PANELS)
    keys = "".join(f"<tr><td><code>{escape(key)}</code></td><td>{escape(what)}</td></tr>"
                   for what, key in shortcuts)
    docs = QUrl.fromLocalFile(str(APP_DOCS)).toString()
    return (f"<h3>The window</h3><dl>{panels}</dl>"
            f"<h3>Keyboard shortcuts</h3><table cellspacing='6'>{keys}</table>"
            f"<p>Everything else (flags, recording format, gestures, failure handling): "
            f"<a href='{docs}'>docs/APP.md</a> ({escape(str(APP_DOCS))}).</p>")


class HelpDialog(QDialog):
    """A scrollable, non-modal help window."""

    def __init__(self, shortcuts: Sequence[tuple[str, str]], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("DIR-Net hand tracker: help")
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        self.browser.setHtml(help_html(shortcuts))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.browser)
        layout.addWidget(buttons)
        self.resize(620, 560)


def show_about(parent: QWidget) -> None:
    QMessageBox.about(
        parent, "About the DIR-Net hand tracker",
        "<p><b>DIR-Net hand tracker</b>: real-time 3D hand pose on a laptop CPU.</p>"
        "<p>MediaPipe Hands finds the hand; DIR-Net (Yang et al., \"Dynamic Iterative Refinement for "
        "Efficient 3D Hand Pose Estimation\", WACV 2022) estimates its joints, mesh and uncertainty, "
        "refining until its exit policy says stop.</p>"
        "<p>Hand model: MakeHuman CC0 assets. Press F1 for help.</p>")
