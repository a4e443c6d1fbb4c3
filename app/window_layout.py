"""The window's panes: the tabs on the left, the video over the plots in the centre, the 3D mesh
over the per-loop heatmaps on the right, each border a splitter the user can drag."""
from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QGuiApplication
from PyQt6.QtWidgets import QLabel, QMainWindow, QScrollArea, QSplitter, QTabWidget, QVBoxLayout, QWidget

__all__ = ["Panes", "fit_to_screen"]

_DEFAULT_SIZE = (1600, 960)  # shrunk to the screen: the layout works from 1280x720 up


class Panes(QSplitter):
    """The three columns. `tabs` maps each tab's title to its page (scrolled when short of room)."""

    def __init__(self, tabs: dict[str, QWidget], video: QWidget, stats: QWidget, mesh: QWidget,
                 colorbar: QWidget, heatmaps: QWidget) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.tabs = QTabWidget()
        for title, page in tabs.items():
            self.tabs.addTab(_scrolled(page), title)
        self.tabs.setMinimumWidth(270)
        self.tabs.setMaximumWidth(400)

        self.centre = QSplitter(Qt.Orientation.Vertical)
        self.centre.addWidget(video)
        self.centre.addWidget(stats)
        stats.setMinimumHeight(150)

        self.right = QSplitter(Qt.Orientation.Vertical)
        self._mesh_box = _titled("3D hand mesh (drag to rotate, wheel to zoom)", mesh, colorbar)
        self.right.addWidget(self._mesh_box)
        self.right.addWidget(_titled("Per-loop 2D uncertainty of the first hand (current frame)", heatmaps))

        for widget in (self.tabs, self.centre, self.right):
            self.addWidget(widget)
            self.setCollapsible(self.indexOf(widget), False)
        self.setStretchFactor(1, 3)
        self.setStretchFactor(2, 2)

    def splitters(self) -> dict[str, QSplitter]:
        """Every splitter by the name its position is remembered under."""
        return {"panes": self, "centre": self.centre, "right": self.right}

    def replace_mesh(self, old: QWidget, new: QWidget) -> None:
        self._mesh_box.layout().replaceWidget(old, new)


def fit_to_screen(window: QMainWindow, panes: Panes) -> None:
    """Default size, shrunk to the screen's free area; panes shared in proportion."""
    screen = window.screen() or QGuiApplication.primaryScreen()
    free = screen.availableGeometry() if screen is not None else None
    width = min(_DEFAULT_SIZE[0], free.width()) if free else _DEFAULT_SIZE[0]
    height = min(_DEFAULT_SIZE[1], free.height()) if free else _DEFAULT_SIZE[1]
    window.resize(width, height)
    side = max(280, min(340, width // 5))
    panes.setSizes([side, (width - side) * 3 // 5, (width - side) * 2 // 5])
    panes.centre.setSizes([height * 63 // 100, height * 37 // 100])
    panes.right.setSizes([height // 2, height // 2])


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
