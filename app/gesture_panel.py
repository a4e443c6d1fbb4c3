"""GesturePanel: capture, rename, delete and live-recognise gestures.

The store (a Qt-free `GestureStore`) lives here in the UI thread: edits are rare user actions and
the file is small. Every change is saved and sent to the worker as a new prototype set.
"""
from __future__ import annotations

import time

import numpy as np
from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QLabel, QLineEdit, QListWidget, QListWidgetItem, QProgressBar,
    QPushButton, QSlider, QVBoxLayout, QGroupBox, QFormLayout,
)

from .gestures import GestureStore

__all__ = ["GesturePanel"]

_CAPTURE_FRAMES = 10
_EVENTS_KEPT = 50


class GesturePanel(QGroupBox):
    """Gesture list and live recognition.

    Signals:
        capture_requested(name, frames): record the next frames of the tracked hand as `name`.
        gestures_changed(dict): name -> Gesture, after any edit (for the worker's matcher).
        settings_changed(dict): {"gesture_threshold": float}.
        errored(str): an edit failed (e.g. the store could not be written).
    """

    capture_requested = pyqtSignal(str, int)
    gestures_changed = pyqtSignal(dict)
    settings_changed = pyqtSignal(dict)
    errored = pyqtSignal(str)

    def __init__(self, store: GestureStore, threshold: float = 0.6, parent=None) -> None:
        super().__init__("Gestures", parent)
        self.store = store
        self.current = QLabel("–")
        self.current.setObjectName("gesture")
        self.current.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.confidence = QProgressBar()
        self.confidence.setRange(0, 100)
        self.confidence.setTextVisible(True)
        self.confidence.setFormat("%p%")
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(5, 99)
        self.threshold.setValue(round(threshold * 100))
        self._threshold_label = QLabel(f"{threshold:.2f}")
        self.threshold.valueChanged.connect(self._threshold_moved)
        self.list = QListWidget()
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.list.itemChanged.connect(self._renamed)
        self.list.setMaximumHeight(96)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("new gesture name")
        self.capture_button = QPushButton("Capture")
        self.capture_button.setToolTip(f"Hold the pose: the next {_CAPTURE_FRAMES} frames become the gesture")
        self.capture_button.clicked.connect(self._capture)
        self.name_edit.returnPressed.connect(self._capture)
        self.delete_button = QPushButton("Delete")
        self.delete_button.clicked.connect(self._delete)
        self.events = QListWidget()
        self.events.setMaximumHeight(46)
        self.events.setObjectName("events")

        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold, 1)
        threshold_row.addWidget(self._threshold_label)
        capture_row = QHBoxLayout()
        capture_row.addWidget(self.name_edit, 1)
        capture_row.addWidget(self.capture_button)
        form = QFormLayout()
        form.addRow("Threshold", threshold_row)
        layout = QVBoxLayout(self)
        layout.addWidget(self.current)
        layout.addWidget(self.confidence)
        layout.addLayout(form)
        layout.addWidget(self.list)
        layout.addLayout(capture_row)
        layout.addWidget(self.delete_button)
        layout.addWidget(QLabel("Events"))
        layout.addWidget(self.events)
        self._fill_list()
        self._logged: dict[str, str] = {}  # hand side -> last gesture logged

    def _fill_list(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for name in self.store.names():
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.list.addItem(item)
        self.list.blockSignals(False)

    def _changed(self) -> None:
        try:
            self.store.save()
        except OSError as exc:
            self.errored.emit(f"cannot save gestures to {self.store.path}: {exc}")
        self._fill_list()
        self.gestures_changed.emit(dict(self.store.gestures))

    def _threshold_moved(self, value: int) -> None:
        self._threshold_label.setText(f"{value / 100:.2f}")
        self.settings_changed.emit({"gesture_threshold": value / 100})

    def _renamed(self, item: QListWidgetItem) -> None:
        old = item.data(Qt.ItemDataRole.UserRole)
        try:
            self.store.rename(old, item.text())
        except ValueError as exc:
            self.errored.emit(str(exc))
        self._changed()

    def _delete(self) -> None:
        for item in self.list.selectedItems():
            self.store.delete(item.data(Qt.ItemDataRole.UserRole))
        self._changed()

    def _capture(self) -> None:
        name = self.name_edit.text().strip()
        if not name:
            self.errored.emit("type a name for the gesture first")
            return
        self.capture_button.setEnabled(False)
        self.capture_button.setText("Hold still…")
        self.capture_requested.emit(name, _CAPTURE_FRAMES)

    def add_captured(self, name: str, samples: np.ndarray) -> None:
        """A capture finished in the worker: store it (slot for InferenceWorker.gesture_captured)."""
        self.capture_button.setEnabled(True)
        self.capture_button.setText("Capture")
        try:
            self.store.add(name, samples)
        except ValueError as exc:
            self.errored.emit(str(exc))
            return
        self.name_edit.clear()
        self._log(f"captured “{name}” from {len(samples)} frames")
        self._changed()

    def set_hands(self, hands) -> None:
        """Show the most confident recognised gesture among these HandResults."""
        best = max((h.gesture for h in hands if h.gesture), key=lambda g: g.confidence, default=None)
        text = best.name.replace("_", " ") if best else "–"
        if text != self.current.text():  # a relayout of the side panel costs ~10 ms: only on change
            self.current.setText(text)
        value = round(100 * best.confidence) if best else 0
        if value != self.confidence.value():
            self.confidence.setValue(value)

    def log_events(self, hands) -> None:
        """Log gesture changes (call for every processed frame, not the throttled display).

        A hand that is lost and found again starts a new track; it is only logged if its
        gesture differs from the last one logged for that hand side.
        """
        for hand in hands:
            if hand.gesture_changed and hand.gesture is not None \
                    and self._logged.get(hand.handedness) != hand.gesture.name:
                self._logged[hand.handedness] = hand.gesture.name
                self._log(f"{hand.handedness} hand: {hand.gesture.name} ({hand.gesture.confidence:.0%})")

    def _log(self, text: str) -> None:
        self.events.insertItem(0, f"{time.strftime('%H:%M:%S')}  {text}")
        while self.events.count() > _EVENTS_KEPT:
            self.events.takeItem(self.events.count() - 1)
