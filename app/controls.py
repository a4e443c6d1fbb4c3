"""ControlPanel: source, DIR-Net exits, smoothing, view and recording controls, all live.

Widgets only emit signals; the window applies them. Pipeline changes go out as partial
PipelineSettings field dicts through `settings_changed`. Every control carries a tooltip with its
meaning and unit; a threshold that the chosen exit mode does not use is greyed out.
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
from .panels.colorbar import COLOR_MODES
from .sources import list_cameras

__all__ = ["ControlPanel", "LogSlider", "DEFAULT_RECORD_ROOT"]

DEFAULT_RECORD_ROOT = Path.home() / "dirnet-sessions"

_RESOLUTIONS = ("640x480", "1280x720", "1920x1080")
_EXIT_LABELS = {"gate": "Gate G", "variance": "Variance τ_var", "none": "None (all loops)"}
# Slider spans around the weights' own defaults. Measured with `python tools/exit_sweep.py` (and
# the demo): mean loops move over tau_gate 0.3-6 on the ASL clip and 2-26 on the demo, and over
# tau_var 0.25x-2.5x the shipped default (133; at 2.5x every crop exits after one loop); outside
# these the loop count no longer changes (below tau_gate 1 they barely move: the shipped gate's
# choice is already hard).
_TAU_GATE_SPAN = (1.0, 26.0)
_TAU_VAR_SPAN = (0.25, 2.5)

_TIPS = {
    "source": "What to track: a camera, the built-in demo (an animated hand), a video file or a folder "
              "of images. 'Rescan cameras' looks for newly plugged-in cameras.",
    "mode": "Resolution and frame rate asked of the camera (it picks the nearest it supports). "
            "Only cameras have a mode: files and the demo keep their own.",
    "mirror": "Show the image mirrored, like a selfie camera. Display only: tracking always sees the "
              "camera's own image.",
    "exit": "When DIR-Net stops refining a hand (paper Sec. 4):\nGate G: a small learned network "
            "decides after each loop (τ_gate sets how eagerly).\nVariance: stop once the predicted "
            "variance falls below τ_var.\nNone: always run all loops (most accurate, most compute).",
    "tau_gate": "Gate temperature (no unit), used by the Gate exit. The gate's EXIT/CONTINUE scores are "
                "divided by it before the softmax: higher values flatten its choice towards 50/50, so "
                "hands exit earlier (fewer loops, fewer GFLOPs, a little less accuracy); lower values "
                "follow the gate's own choice. Log scale.",
    "tau_var": "Variance threshold, used by the Variance exit: a hand stops once the mean predicted "
               "variance of its joints (2D in px² of a 224 px crop and 3D in mm², averaged) is below "
               "it. Higher exits earlier. Log scale.",
    "max_loops": "The most refiner passes any hand may run (each pass costs the same GFLOPs).",
    "smoothing": "One Euro filter on the 2D joints, 3D joints and mesh: less jitter when the hand is "
                 "still, little lag when it moves.",
    "min_cutoff": "Cut-off frequency (Hz) while the hand is still: lower is steadier but lags more.",
    "beta": "How fast the cut-off rises with the hand's speed: higher lags less on quick moves but "
            "jitters more.",
    "mediapipe": "Draw MediaPipe's own landmarks beside ours for comparison: magenta dashes and hollow "
                 "rings (legend bottom left). MediaPipe runs on 1 frame in 3 for it, reusing the "
                 "tracker's detections; that took 13-35% of the frame rate on a 2-core CPU (docs/APP.md).",
    "mesh": "Colour the 3D mesh by skin, or by DIR-Net's predicted 3D uncertainty (scale under the mesh).",
    "record": "Record into a new session folder: raw.mp4, annotated.mp4, frames.jsonl (every joint "
              "per frame) and session.json.",
    "folder": "Choose the folder that new session folders are created in.",
}


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
        self.record_root = config.record or DEFAULT_RECORD_ROOT
        self._info = None  # the loaded model's EstimatorInfo (slider spans), once it is known
        self._session: Path | None = None  # the session folder being recorded
        self._playing: str | None = None  # the source name last shown by show_source
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._source_group())
        layout.addWidget(self._model_group())
        layout.addWidget(self._smoothing_group())
        layout.addWidget(self._view_group())
        layout.addWidget(self._record_group())
        layout.addStretch(1)  # spare height below the groups, not inside them

    # ---- groups --------------------------------------------------------------------------------
    def _source_group(self) -> QGroupBox:
        box = QGroupBox("Source")
        form = QFormLayout(box)
        self.source_combo = QComboBox()
        self.source_combo.setToolTip(_TIPS["source"])
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
        for widget in (self.resolution_combo, self.fps_spin):
            widget.setToolTip(_TIPS["mode"])
        # A new mode re-opens the current camera (files and the demo keep their own size).
        self.resolution_combo.activated.connect(self._mode_changed)
        self.fps_spin.editingFinished.connect(self._mode_changed)
        row = QHBoxLayout()
        row.addWidget(self.resolution_combo, 1)
        row.addWidget(self.fps_spin)
        self.mirror_check = QCheckBox("Mirror view (selfie)")
        self.mirror_check.setChecked(self.config.mirror)
        self.mirror_check.toggled.connect(self.mirror_changed)
        self.mirror_check.setToolTip(_TIPS["mirror"])
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
        self.exit_combo.currentIndexChanged.connect(self._exit_mode_changed)
        self.exit_combo.setToolTip(_TIPS["exit"])
        self.tau_gate = LogSlider(1.0, 2.0, 1.0)  # spans and values: _fit_thresholds
        self.tau_gate.value_changed.connect(lambda v: self.settings_changed.emit({"tau_gate": v}))
        self.tau_var = LogSlider(1.0, 2.0, 1.0)
        self.tau_var.value_changed.connect(lambda v: self.settings_changed.emit({"tau_var": v}))
        self.tau_gate_label, self.tau_var_label = QLabel("τ_gate"), QLabel("τ_var")
        for widget, tip in ((self.tau_gate, "tau_gate"), (self.tau_gate_label, "tau_gate"),
                            (self.tau_var, "tau_var"), (self.tau_var_label, "tau_var")):
            widget.setToolTip(_TIPS[tip])
        self.loops_spin = QSpinBox()
        self.loops_spin.setToolTip(_TIPS["max_loops"])
        self._fit_thresholds()
        self.loops_spin.valueChanged.connect(lambda v: self.settings_changed.emit({"max_loops": v}))
        self.model_label = QLabel("loading DIR-Net…")
        self.model_label.setWordWrap(True)
        self.model_label.setObjectName("hint")
        form.addRow("Exit", self.exit_combo)
        form.addRow(self.tau_gate_label, self.tau_gate)
        form.addRow(self.tau_var_label, self.tau_var)
        form.addRow("Max loops", self.loops_spin)
        form.addRow(self.model_label)
        self._grey_unused_thresholds()
        return box

    def _smoothing_group(self) -> QGroupBox:
        box = QGroupBox("Smoothing (One Euro)")
        box.setCheckable(True)
        box.setChecked(self.config.smoothing)
        box.toggled.connect(lambda on: self.settings_changed.emit({"smoothing": on}))
        box.setToolTip(_TIPS["smoothing"])
        form = QFormLayout(box)
        self.min_cutoff = LogSlider(0.05, 10.0, self.config.min_cutoff, "{:.2f} Hz")
        self.min_cutoff.value_changed.connect(lambda v: self.settings_changed.emit({"min_cutoff": v}))
        self.beta = LogSlider(0.001, 1.0, self.config.beta, "{:.3f}")
        self.beta.value_changed.connect(lambda v: self.settings_changed.emit({"beta": v}))
        self.min_cutoff.setToolTip(_TIPS["min_cutoff"])
        self.beta.setToolTip(_TIPS["beta"])
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
        self.mediapipe_check.setToolTip(_TIPS["mediapipe"])
        self.mesh_combo = QComboBox()
        self.mesh_combo.addItems(COLOR_MODES)
        self.mesh_combo.setToolTip(_TIPS["mesh"])
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
        self.record_button.setToolTip(_TIPS["record"])
        folder = QPushButton("Folder…")
        folder.setToolTip(_TIPS["folder"])
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

    def show_source(self, name: str | None) -> None:
        """Select the combo entry for the source playing (None: nothing), adding a file/folder by name.

        Called for every opened source and after a failed one, so the box always names what is
        really playing; the camera mode is editable only while a camera plays.
        """
        self._playing = name
        camera = name is not None and name.startswith("camera ")
        self.resolution_combo.setEnabled(camera)
        self.fps_spin.setEnabled(camera)
        name = name or _NO_SOURCE
        for i in range(self.source_combo.count()):
            if self.source_combo.itemText(i) == name or (
                    camera and self.source_combo.itemData(i) == name.split()[-1]) or (
                    name == "demo" and self.source_combo.itemData(i) == "demo"):
                self.source_combo.setCurrentIndex(i)
                return
        self.source_combo.insertItem(0, name, None)
        self.source_combo.setCurrentIndex(0)

    def source_name(self) -> str:
        """What the source box shows."""
        return self.source_combo.currentText()

    def resolution(self) -> tuple[int, int, float]:
        width, height = (int(v) for v in self.resolution_combo.currentText().split("x"))
        return width, height, float(self.fps_spin.value())

    def _source_chosen(self, index: int) -> None:
        data = self.source_combo.itemData(index)
        if data == "rescan":
            self.refresh_sources()
            self.show_source(self._playing)
            return
        if data == "file":
            path, _ = QFileDialog.getOpenFileName(self, "Open a video", "",
                                                  "Videos (*.mp4 *.avi *.mov *.mkv *.webm);;All files (*)")
            data = path or None
        elif data == "folder":
            data = QFileDialog.getExistingDirectory(self, "Open an image folder") or None
        if data:
            self.source_requested.emit(data)
        else:  # a dialog was cancelled: the box goes back to what plays
            self.show_source(self._playing)

    def _mode_changed(self, *_args) -> None:
        data = self.source_combo.currentData()
        if isinstance(data, str) and data.isdigit():
            self.source_requested.emit(data)

    def _choose_record_root(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Record sessions into", str(self.record_root))
        if path:
            self.set_record_root(Path(path))

    def set_record_root(self, path: Path) -> None:
        """The folder new session folders go into (from the next recording on)."""
        self.record_root = path
        if self._session is None:
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

    def _exit_mode_changed(self, _index: int) -> None:
        self._grey_unused_thresholds()
        self.settings_changed.emit({"exit_mode": self.exit_combo.currentData()})

    def _grey_unused_thresholds(self) -> None:
        mode = self.exit_combo.currentData()
        for widgets, used in (((self.tau_gate, self.tau_gate_label), mode == "gate"),
                              ((self.tau_var, self.tau_var_label), mode == "variance")):
            for widget in widgets:
                widget.setEnabled(used)

    def cycle_exit_mode(self) -> None:
        """Switch to the next exit mode (keyboard shortcut)."""
        self.exit_combo.setCurrentIndex((self.exit_combo.currentIndex() + 1) % self.exit_combo.count())

    def apply_config(self, config: AppConfig) -> None:
        """Show `config`'s values (e.g. the defaults after a reset) without emitting settings_changed:
        the window sets the pipeline's settings itself. Mirror and mesh colour still signal."""
        self.config = config
        quiet = (self.exit_combo, self.smoothing_box, self.mediapipe_check, self.resolution_combo,
                 self.fps_spin)
        for widget in quiet:
            widget.blockSignals(True)
        self.exit_combo.setCurrentIndex(self.exit_combo.findData(config.exit_mode))
        self.smoothing_box.setChecked(config.smoothing)
        self.mediapipe_check.setChecked(config.show_mediapipe)
        self.min_cutoff.set_range(0.05, 10.0, config.min_cutoff)
        self.beta.set_range(0.001, 1.0, config.beta)
        self.resolution_combo.setCurrentText(f"{config.width}x{config.height}")
        self.fps_spin.setValue(round(config.fps))
        for widget in quiet:
            widget.blockSignals(False)
        self._grey_unused_thresholds()
        self._fit_thresholds()
        self.mirror_check.setChecked(config.mirror)
        self.mesh_combo.setCurrentText(COLOR_MODES[0])
        self.set_record_root(config.record or DEFAULT_RECORD_ROOT)

    def set_estimator_info(self, info) -> None:
        """Fit the sliders to the loaded model (app.worker.EstimatorInfo); keeps user choices."""
        self._info = info
        self._fit_thresholds()
        state = "trained weights" if info.is_trained else "UNTRAINED model (no weights shipped yet)"
        self.model_label.setText(f"{state} · {info.input_res} px crops · up to {info.max_loops} loops")

    def _fit_thresholds(self) -> None:
        """Slider spans around the model's defaults (placeholders until it has loaded), valued at
        the config's choice or, where it has none, the model's default."""
        info, config = self._info, self.config
        self.tau_gate.set_range(*_span(_TAU_GATE_SPAN, info.tau_gate if info else 1.0, config.tau_gate))
        self.tau_var.set_range(*_span(_TAU_VAR_SPAN, info.tau_var if info else 20.0, config.tau_var))
        most = info.max_loops if info else config.max_loops or 4
        self.loops_spin.blockSignals(True)
        self.loops_spin.setRange(1, most)
        self.loops_spin.setValue(min(config.max_loops or most, most))
        self.loops_spin.blockSignals(False)


_NO_SOURCE = "No source"


def _span(factors: tuple[float, float], default: float, chosen: float | None) -> tuple[float, float, float]:
    """(low, high, value) of a threshold slider: `factors` times the default, widened to the user's choice."""
    value = default if chosen is None else chosen
    return min(factors[0] * default, value), max(factors[1] * default, value), value
