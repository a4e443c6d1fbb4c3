"""GesturePanel: capture, rename, delete, import/export and live-recognise gestures.

The store (a Qt-free `GestureStore`) lives here in the UI thread: edits are rare user actions and
the file is small. Every change is saved and sent to the worker as a new prototype set. Nothing
is lost by surprise: capturing under a taken name asks first, a delete can be undone, a reset to
the starters and an import over existing names ask first, and the store's file is always named.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QKeySequence, QShortcut
from PyQt6.QtWidgets import (
    QAbstractItemView, QFileDialog, QFormLayout, QGridLayout, QHBoxLayout, QLabel, QLineEdit,
    QListWidget, QListWidgetItem, QMessageBox, QProgressBar, QPushButton, QSlider, QVBoxLayout, QWidget,
)

from .gestures import GestureStore, read_gestures

__all__ = ["GesturePanel"]

_CAPTURE_FRAMES = 10
_EVENTS_KEPT = 50
_JSON_FILTER = "Gesture stores (*.json);;All files (*)"
_Button = QMessageBox.StandardButton


class GesturePanel(QWidget):
    """Gesture list and live recognition.

    Args:
        store: the user's gestures.
        threshold: confidence needed to report a gesture (0..1).
        countdown_s: seconds between pressing Capture and the capture starting (time to pose).

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

    def __init__(self, store: GestureStore, threshold: float = 0.6, countdown_s: int = 3,
                 parent=None) -> None:
        super().__init__(parent)
        self.store = store
        self.countdown_s = countdown_s
        self._countdown = QTimer(self)
        self._countdown.setInterval(1000)
        self._countdown.timeout.connect(self._tick)
        self._remaining = 0
        self._pending_name = ""
        self._undo: tuple[int, object] | None = None  # (position, Gesture) of the last delete

        self.current = QLabel("–")
        self.current.setObjectName("gesture")
        self.current.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.current.setToolTip("The recognised gesture of the most confident hand")
        self.confidence = QProgressBar()
        self.confidence.setRange(0, 100)
        self.confidence.setFormat("%p%")
        self.confidence.setToolTip("Confidence of that gesture: exp(-d²/(2·0.18²)) for the RMS "
                                   "distance d between the pose's features and the gesture's")
        self.threshold = QSlider(Qt.Orientation.Horizontal)
        self.threshold.setRange(5, 99)
        self.threshold.setValue(round(threshold * 100))
        self.threshold.setToolTip("Confidence a gesture needs to be reported (0-1): higher means "
                                  "fewer false matches, lower means fewer misses")
        self._threshold_label = QLabel(f"{threshold:.2f}")
        self.threshold.valueChanged.connect(self._threshold_moved)

        self.list = QListWidget()
        self.list.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.list.itemChanged.connect(self._renamed)
        self.list.setMinimumHeight(8 * self.list.fontMetrics().height() + 12)  # 8 rows, then it scrolls
        self.list.setToolTip("Your gestures. Double-click (or F2) to rename; select and press Delete "
                             "to remove.")
        delete_key = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.list)
        delete_key.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete_key.activated.connect(self.delete_selected)

        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("new gesture name")
        self.name_edit.setToolTip("Name for the next capture (an existing name replaces that gesture, "
                                  "after asking)")
        self.name_edit.returnPressed.connect(self.capture)
        self.capture_button = QPushButton("Capture")
        self.capture_button.setToolTip(f"Counts down {countdown_s} s so you can pose, then the next "
                                       f"{_CAPTURE_FRAMES} frames of the hand become the gesture (G). "
                                       "Press again during the countdown to cancel.")
        self.capture_button.clicked.connect(self.capture)
        self.capture_status = QLabel("")
        self.capture_status.setObjectName("hint")
        self.capture_status.setWordWrap(True)

        self.delete_button = _button("Delete", "Delete the selected gestures (Undo brings them back)",
                                     self.delete_selected)
        self.undo_button = _button("Undo", "Bring back the last deleted gesture (Ctrl+Z)", self.undo_delete)
        self.undo_button.setEnabled(False)
        self.reset_button = _button("Starters", "Replace all gestures with the six shipped starters "
                                    "(asks first)", self._reset_clicked)
        self.import_button = _button("Import…", "Add the gestures of a JSON gesture store "
                                     "(asks before replacing any of the same name)", self._import_clicked)
        self.export_button = _button("Export…", "Save all gestures to a JSON file, e.g. to share "
                                     "them or keep a copy", self._export_clicked)
        self.path_label = QLabel()
        self.path_label.setObjectName("hint")
        self.path_label.setWordWrap(True)
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.events = QListWidget()
        self.events.setMinimumHeight(3 * self.events.fontMetrics().height() + 8)
        self.events.setObjectName("events")
        self.events.setToolTip("Gesture changes and captures, newest first")

        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold, 1)
        threshold_row.addWidget(self._threshold_label)
        form = QFormLayout()
        form.addRow("Threshold", threshold_row)
        capture_row = QHBoxLayout()
        capture_row.addWidget(self.name_edit, 1)
        capture_row.addWidget(self.capture_button)
        edit_grid = QGridLayout()
        for i, button in enumerate((self.delete_button, self.undo_button, self.reset_button,
                                    self.import_button, self.export_button)):
            edit_grid.addWidget(button, i // 3, i % 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.current)
        layout.addWidget(self.confidence)
        layout.addLayout(form)
        layout.addLayout(capture_row)
        layout.addWidget(self.capture_status)
        layout.addWidget(self.list, 1)
        layout.addLayout(edit_grid)
        layout.addWidget(self.path_label)
        layout.addWidget(QLabel("Events"))
        layout.addWidget(self.events)
        self._fill_list()
        self._logged: dict[str, str] = {}  # hand side -> last gesture logged

    # ---- the store -----------------------------------------------------------------------------
    def _fill_list(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        for name in self.store.names():
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.list.addItem(item)
        self.list.blockSignals(False)
        where = str(self.store.path)
        self.path_label.setText(f"Saved in {where}" if self.store.saved else
                                f"Showing the shipped starters; your changes will be saved in {where}")

    def _changed(self) -> None:
        try:
            self.store.save()
        except OSError as exc:
            self.errored.emit(f"cannot save gestures to {self.store.path}: {exc}")
        self._fill_list()
        self.gestures_changed.emit(dict(self.store.gestures))

    def set_threshold(self, threshold: float) -> None:
        """Show `threshold` (0..1) without emitting settings_changed (the window applies it)."""
        self.threshold.blockSignals(True)
        self.threshold.setValue(round(threshold * 100))
        self.threshold.blockSignals(False)
        self._threshold_label.setText(f"{self.threshold.value() / 100:.2f}")

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

    def delete_selected(self) -> None:
        """Delete the selected gestures; the last one deleted can be brought back with Undo."""
        for item in self.list.selectedItems():
            deleted = self.store.delete(item.data(Qt.ItemDataRole.UserRole))
            if deleted is not None:
                self._undo = deleted
                self._log(f"deleted “{deleted[1].name}” (Undo brings it back)")
        self.undo_button.setEnabled(self._undo is not None)
        self._changed()

    def undo_delete(self) -> None:
        """Restore the last deleted gesture at its old place."""
        if self._undo is None:
            return
        position, gesture = self._undo
        self._undo = None
        self.store.restore(position, gesture)
        self.undo_button.setEnabled(False)
        self._log(f"restored “{gesture.name}”")
        self._changed()

    def _reset_clicked(self) -> None:
        count = len(self.store.gestures)
        if self._ask("Reset gestures", f"Replace all {count} gestures with the shipped starters? "
                     "Gestures you captured are lost unless you export them first.") == _Button.Yes:
            self.reset_to_starters()

    def reset_to_starters(self) -> None:
        try:
            self.store.reset()
        except (OSError, ValueError) as exc:
            self.errored.emit(f"cannot read the starters: {exc}")
            return
        self._undo = None
        self.undo_button.setEnabled(False)
        self._log("reset to the starters")
        self._changed()

    def _export_clicked(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export gestures", str(Path.home() / "gestures.json"),
                                              _JSON_FILTER)
        if path:
            self.export_to(Path(path))

    def export_to(self, path: Path) -> None:
        """Write every gesture to `path` (the store's own format)."""
        try:
            self.store.save(path)
        except OSError as exc:
            self.errored.emit(f"cannot export gestures to {path}: {exc}")
            return
        self._log(f"exported {len(self.store.gestures)} gestures to {path}")

    def _import_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import gestures", str(Path.home()), _JSON_FILTER)
        if path:
            self.import_from(Path(path))

    def import_from(self, path: Path) -> None:
        """Add the gestures of another store; asks whether to replace gestures of the same name."""
        try:
            gestures = read_gestures(path)
        except (OSError, ValueError) as exc:
            self.errored.emit(f"cannot import gestures: {exc}")
            return
        taken = [name for name in gestures if name in self.store.gestures]
        replace = False
        if taken:
            answer = self._ask("Import gestures", f"{path.name} has gestures you already have: "
                               f"{', '.join(taken)}. Replace them? (No keeps yours and imports the rest.)",
                               _Button.Yes | _Button.No | _Button.Cancel)
            if answer == _Button.Cancel:
                return
            replace = answer == _Button.Yes
        added = self.store.merge(gestures, replace)
        self._log(f"imported {len(added)} gestures from {path.name}")
        self._changed()

    def _ask(self, title: str, text: str, buttons=_Button.Yes | _Button.No) -> QMessageBox.StandardButton:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, buttons, self)
        box.setDefaultButton(_Button.No)
        return _Button(box.exec())

    # ---- capture -------------------------------------------------------------------------------
    def capture(self) -> None:
        """Start a capture of the typed name after a countdown (asking first if the name is taken);
        during the countdown, cancel it."""
        if self._countdown.isActive():
            self._countdown.stop()
            self._capture_idle()
            self.capture_status.setText("capture cancelled")
            return
        if not self.capture_button.isEnabled():
            return  # a capture is running
        name = self.name_edit.text().strip()
        if not name:
            self.errored.emit("type a name for the gesture first")
            return
        if name in self.store.gestures and self._ask(
                "Replace gesture", f"A gesture named “{name}” exists. Replace it with a new capture?"
        ) != _Button.Yes:
            return
        self._pending_name = name
        self._remaining = self.countdown_s
        if self._remaining <= 0:
            self._start_capture()
            return
        self._show_countdown()
        self._countdown.start()

    def _show_countdown(self) -> None:
        self.capture_button.setText(f"Cancel ({self._remaining})")
        self.capture_status.setText(f"get ready: capturing “{self._pending_name}” in {self._remaining} s")

    def _tick(self) -> None:
        self._remaining -= 1
        if self._remaining > 0:
            self._show_countdown()
            return
        self._countdown.stop()
        self._start_capture()

    def _start_capture(self) -> None:
        self.capture_button.setEnabled(False)
        self.capture_button.setText("Hold still…")
        self.capture_status.setText(f"capturing “{self._pending_name}”: hold the pose in view")
        self.capture_requested.emit(self._pending_name, _CAPTURE_FRAMES)

    def _capture_idle(self) -> None:
        self.capture_button.setEnabled(True)
        self.capture_button.setText("Capture")

    def add_captured(self, name: str, samples: np.ndarray) -> None:
        """A capture finished in the worker: store it (slot for InferenceWorker.gesture_captured)."""
        self._capture_idle()
        self.capture_status.setText("")
        try:
            self.store.add(name, samples)
        except ValueError as exc:
            self.errored.emit(str(exc))
            return
        self.name_edit.clear()
        self._log(f"captured “{name}” from {len(samples)} frames")
        self._changed()

    # ---- live recognition ----------------------------------------------------------------------
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


def _button(text: str, tip: str, slot) -> QPushButton:
    button = QPushButton(text)
    button.setToolTip(tip)
    button.clicked.connect(slot)
    return button
