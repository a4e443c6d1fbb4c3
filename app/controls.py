"""ControlPanel: source, DIR-Net exits, smoothing, view and recording controls, all live.

Widgets only emit signals; the window applies them. Pipeline changes go out as partial
PipelineSettings field dicts through `settings_changed`.
"""
from __future__ import annotations

import math
from pathlib import Path

from PyQt6.QtCore import Qt, QUrl, pyqtSignal
from PyQt6.QtGui import QDesktopServices
from PyQt6.QtWidgets import (
    QCheckBox, QComboBox, QFileDialog, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QPushButton,
    QSlider, QSpinBox, QVBoxLayout, QWidget,
)

from .config import AppConfig
from .panels.mesh3d import COLOR_MODES
from .sources import list_cameras

__all__ = ["ControlPanel", "LogSlider"]

_RESOLUTIONS = ("640x480", "1280x720", "1920x1080")
_EXIT_LABELS = {"gate": "Gate G", "variance": "Variance τ_var", "none": "None (all loops)"}


class LogSlider(QWidget):
    """A slider over [low, high] on a log scale, with its value shown beside it.

    Signals:
        value_changed(float)
    """

    value_changed = pyqtSignal(float)
    _STEPS = 1000

    def __init__(self, low: float, high: float, value: float, fmt: str = "{:.3g}", parent=None) -> None:
        super().__init__(parent)
        self._fmt = fmt
        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._slider.setRange(0, self._STEPS)
        self._label = QLabel()
        self._label.setMinimumWidth(44)
        self._label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._slider, 1)
        layout.addWidget(self._label)
        self.set_range(low, high, value)
        self._slider.valueChanged.connect(self._moved)

    def set_range(self, low: float, high: float, value: float) -> None:
        """New bounds and value, without emitting value_changed."""
        self._lo, self._hi = math.log10(low), math.log10(high)
        self._slider.blockSignals(True)
        self._slider.setValue(self._to_step(value))
        self._slider.blockSignals(False)
        self._label.setText(self._fmt.format(self.value()))

    def _to_step(self, value: float) -> int:
        frac = (math.log10(max(value, 1e-12)) - self._lo) / (self._hi - self._lo)
        return round(min(max(frac, 0.0), 1.0) * self._STEPS)

    def value(self) -> float:
        return 10 ** (self._lo + (self._hi - self._lo) * self._slider.value() / self._STEPS)

    def set_value(self, value: float) -> None:
        """Move the slider (emits value_changed like a user move)."""
        self._slider.setValue(self._to_step(value))

    def _moved(self, _step: int) -> None:
        value = self.value()
        self._label.setText(self._fmt.format(value))
        self.value_changed.emit(value)


class ControlPanel(QWidget):
    """The left column of the window.

    Signals:
        settings_changed(dict): PipelineSettings fields to change.
        source_requested(str): a source spec for CaptureThread.open ("0", "demo", a path).
        mirror_changed(bool), mesh_color_changed(str), record_toggled(bool).
    """

    settings_changed = pyqtSignal(dict)
    source_requested = pyqtSignal(str)
    mirror_changed = pyqtSignal(bool)
    mesh_color_changed = pyqtSignal(str)
    record_toggled = pyqtSignal(bool)

    def __init__(self, config: AppConfig, parent=None) -> None:
        super().__init__(parent)
        self.config = config
        self.record_root = config.record or Path.home() / "dirnet-sessions"
        self._session: Path | None = None  # the session folder being recorded
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._source_group())
        layout.addWidget(self._model_group())
        layout.addWidget(self._smoothing_group())
        layout.addWidget(self._view_group())
        layout.addWidget(self._record_group())

    # ---- groups --------------------------------------------------------------------------------
    def _source_group(self) -> QGroupBox:
        box = QGroupBox("Source")
        form = QFormLayout(box)
        self.source_combo = QComboBox()
        self.refresh_sources()
        self.source_combo.activated.connect(self._source_chosen)
        self.resolution_combo = QComboBox()
        self.resolution_combo.addItems(_RESOLUTIONS)
        current = f"{self.config.width}x{self.config.height}"
        if current not in _RESOLUTIONS:
            self.resolution_combo.addItem(current)
        self.resolution_combo.setCurrentText(current)
        self.fps_spin = QSpinBox()
        self.fps_spin.setRange(5, 120)
        self.fps_spin.setValue(round(self.config.fps))
        self.fps_spin.setSuffix(" fps")
        # A new mode re-opens the current camera (files and the demo keep their own size).
        self.resolution_combo.activated.connect(self._mode_changed)
        self.fps_spin.editingFinished.connect(self._mode_changed)
        row = QHBoxLayout()
        row.addWidget(self.resolution_combo, 1)
        row.addWidget(self.fps_spin)
        self.mirror_check = QCheckBox("Mirror view (selfie)")
        self.mirror_check.setChecked(self.config.mirror)
        self.mirror_check.toggled.connect(self.mirror_changed)
        form.addRow(self.source_combo)
        form.addRow("Mode", row)
        form.addRow(self.mirror_check)
        return box

    def _model_group(self) -> QGroupBox:
        box = QGroupBox("DIR-Net dynamic exit")
        form = QFormLayout(box)
        self.exit_combo = QComboBox()
        for mode, label in _EXIT_LABELS.items():
            self.exit_combo.addItem(label, mode)
        self.exit_combo.setCurrentIndex(list(_EXIT_LABELS).index(self.config.exit_mode))
        self.exit_combo.currentIndexChanged.connect(
            lambda _: self.settings_changed.emit({"exit_mode": self.exit_combo.currentData()}))
        self.tau_gate = LogSlider(0.05, 20.0, self.config.tau_gate or 1.0)
        self.tau_gate.value_changed.connect(lambda v: self.settings_changed.emit({"tau_gate": v}))
        self.tau_var = LogSlider(0.1, 1000.0, self.config.tau_var or 20.0)
        self.tau_var.value_changed.connect(lambda v: self.settings_changed.emit({"tau_var": v}))
        self.loops_spin = QSpinBox()
        self.loops_spin.setRange(1, self.config.max_loops or 4)
        self.loops_spin.setValue(self.config.max_loops or 4)
        self.loops_spin.valueChanged.connect(lambda v: self.settings_changed.emit({"max_loops": v}))
        self.model_label = QLabel("loading DIR-Net…")
        self.model_label.setWordWrap(True)
        self.model_label.setObjectName("hint")
        form.addRow("Exit", self.exit_combo)
        form.addRow("τ_gate", self.tau_gate)
        form.addRow("τ_var", self.tau_var)
        form.addRow("Max loops", self.loops_spin)
        form.addRow(self.model_label)
        return box

    def _smoothing_group(self) -> QGroupBox:
        box = QGroupBox("Smoothing (One Euro)")
        box.setCheckable(True)
        box.setChecked(self.config.smoothing)
        box.toggled.connect(lambda on: self.settings_changed.emit({"smoothing": on}))
        form = QFormLayout(box)
        self.min_cutoff = LogSlider(0.05, 10.0, self.config.min_cutoff, "{:.2f} Hz")
        self.min_cutoff.value_changed.connect(lambda v: self.settings_changed.emit({"min_cutoff": v}))
        self.beta = LogSlider(0.001, 1.0, self.config.beta, "{:.3f}")
        self.beta.value_changed.connect(lambda v: self.settings_changed.emit({"beta": v}))
        form.addRow("Min cut-off", self.min_cutoff)
        form.addRow("β (speed)", self.beta)
        self.smoothing_box = box
        return box

    def _view_group(self) -> QGroupBox:
        box = QGroupBox("View")
        form = QFormLayout(box)
        self.mediapipe_check = QCheckBox("Show MediaPipe's landmarks")
        self.mediapipe_check.setChecked(self.config.show_mediapipe)
        self.mediapipe_check.toggled.connect(lambda on: self.settings_changed.emit({"show_mediapipe": on}))
        self.mesh_combo = QComboBox()
        self.mesh_combo.addItems(COLOR_MODES)
        self.mesh_combo.currentTextChanged.connect(self.mesh_color_changed)
        form.addRow(self.mediapipe_check)
        form.addRow("Mesh colour", self.mesh_combo)
        return box

    def _record_group(self) -> QGroupBox:
        box = QGroupBox("Recording")
        layout = QVBoxLayout(box)
        row = QHBoxLayout()
        self.record_button = QPushButton("● Record")
        self.record_button.setCheckable(True)
        self.record_button.setObjectName("record")
        self.record_button.toggled.connect(self.record_toggled)
        folder = QPushButton("Folder…")
        folder.setToolTip("Choose the folder sessions are recorded into")
        folder.clicked.connect(self._choose_record_root)
        self.open_folder_button = QPushButton("Open")
        self.open_folder_button.setToolTip("Show the recording (or the recordings folder) in the file manager")
        self.open_folder_button.clicked.connect(self.open_recordings)
        row.addWidget(self.record_button, 1)
        row.addWidget(folder)
        row.addWidget(self.open_folder_button)
        self.record_label = QLabel(f"into {self.record_root}")
        self.record_label.setWordWrap(True)
        self.record_label.setObjectName("hint")
        layout.addLayout(row)
        layout.addWidget(self.record_label)
        return box

    # ---- behaviour -----------------------------------------------------------------------------
    def refresh_sources(self) -> None:
        """List the cameras present, the demo, and the file choices."""
        self.source_combo.clear()
        for index in list_cameras():
            self.source_combo.addItem(f"Camera {index}", str(index))
        self.source_combo.addItem("Demo (animated hand)", "demo")
        self.source_combo.addItem("Video file…", "file")
        self.source_combo.addItem("Image folder…", "folder")
        self.source_combo.addItem("Rescan cameras", "rescan")

    def show_source(self, name: str) -> None:
        """Select the combo entry for an opened source, or add it (a file/folder by name)."""
        for i in range(self.source_combo.count()):
            if self.source_combo.itemText(i) == name or (
                    name.startswith("camera ") and self.source_combo.itemData(i) == name.split()[-1]) or (
                    name == "demo" and self.source_combo.itemData(i) == "demo"):
                self.source_combo.setCurrentIndex(i)
                return
        self.source_combo.insertItem(0, name, None)
        self.source_combo.setCurrentIndex(0)

    def resolution(self) -> tuple[int, int, float]:
        width, height = (int(v) for v in self.resolution_combo.currentText().split("x"))
        return width, height, float(self.fps_spin.value())

    def _source_chosen(self, index: int) -> None:
        data = self.source_combo.itemData(index)
        if data == "rescan":
            self.refresh_sources()
            return
        if data == "file":
            path, _ = QFileDialog.getOpenFileName(self, "Open a video", "",
                                                  "Videos (*.mp4 *.avi *.mov *.mkv *.webm);;All files (*)")
            data = path or None
        elif data == "folder":
            data = QFileDialog.getExistingDirectory(self, "Open an image folder") or None
        if data:
            self.source_requested.emit(data)

    def _mode_changed(self, *_args) -> None:
        data = self.source_combo.currentData()
        if isinstance(data, str) and data.isdigit():
            self.source_requested.emit(data)

    def _choose_record_root(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Record sessions into", str(self.record_root))
        if path:
            self.record_root = Path(path)
            self.record_label.setText(f"into {self.record_root}")

    def open_recordings(self) -> bool:
        """Show the session being recorded, else the recordings folder, in the file manager."""
        folder = self._session or self.record_root
        if not folder.is_dir():
            self.record_label.setText(f"{folder} does not exist yet: record something first")
            return False
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
            self.record_label.setText(f"no file manager to open {folder}")
            return False
        return True

    def set_recording(self, path: str) -> None:
        """Reflect the worker's recording state: a session folder, or "" when stopped."""
        self._session = Path(path) if path else None
        self.record_button.blockSignals(True)
        self.record_button.setChecked(bool(path))
        self.record_button.setText("■ Stop recording" if path else "● Record")
        self.record_button.blockSignals(False)
        self.record_label.setText(f"recording into {path}" if path else f"into {self.record_root}")

    def set_estimator_info(self, info) -> None:
        """Fit the sliders to the loaded model (app.worker.EstimatorInfo); keeps user choices."""
        self.tau_gate.set_range(min(0.05, info.tau_gate / 20), max(20.0, info.tau_gate * 20),
                                self.config.tau_gate or info.tau_gate)
        self.tau_var.set_range(min(0.1, info.tau_var / 100), max(1000.0, info.tau_var * 100),
                               self.config.tau_var or info.tau_var)
        self.loops_spin.blockSignals(True)
        self.loops_spin.setRange(1, info.max_loops)
        self.loops_spin.setValue(min(self.config.max_loops or info.max_loops, info.max_loops))
        self.loops_spin.blockSignals(False)
        state = "trained weights" if info.is_trained else "UNTRAINED model (no weights shipped yet)"
        self.model_label.setText(f"{state} · {info.input_res} px crops · up to {info.max_loops} loops")
