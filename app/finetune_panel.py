"""FinetunePanel: pick the weights, and fine-tune them on the session just recorded.

After a recording stops, "Fine-tune on this session" runs `dirnet.finetune` on it in a child
process (FinetuneJob) while tracking goes on, with progress, the time left and Cancel. When it is
done the panel offers the new weights; after switching, "Back" returns to the previous ones. The
picker lists the shipped weights and every earlier fine-tune (app.personal_weights).

Widgets only emit `weights_requested`; the window loads the weights and calls `set_current`.
"""
from __future__ import annotations

from pathlib import Path

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox, QDoubleSpinBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel, QProgressBar, QPushButton,
    QVBoxLayout, QWidget,
)

from .finetune_job import FinetuneJob
from .personal_weights import describe, list_weights, new_output_dir, same_weights

__all__ = ["FinetunePanel"]

_TIPS = {
    "picker": "The DIR-Net weights the tracker uses: the shipped ones, or one of your fine-tunes.",
    "finetune": "Teach DIR-Net your hand: MediaPipe labels the session's frames, the model trains on them "
                "(mixed with synthetic hands in other poses so it does not forget them), the exit gate is "
                "retrained, and the result is scored on the last fifth of the session, which it did not "
                "train on. Tracking goes on meanwhile, a little slower.",
    "minutes": "How long the model trains; labelling and scoring add about a minute per minute of recording.",
}


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class FinetunePanel(QWidget):
    """The "Your hand" tab.

    Args:
        personal_root: where fine-tunes are written (one folder per session).
        minutes: the default fine-tuning time.
        current: the weights in use at start (None: shipped).
    Signals:
        weights_requested(object): a weights folder or file to load, or None for the shipped ones.
        errored(str): a fine-tune failed or was refused (one line).
    """

    weights_requested = pyqtSignal(object)
    errored = pyqtSignal(str)

    def __init__(self, personal_root: Path, minutes: float, current: Path | None = None, parent=None) -> None:
        super().__init__(parent)
        self.personal_root = personal_root
        self.current = current
        self.previous: Path | None = None  # the weights before the last switch ("Back")
        self._switched = False  # a switch happened: "Back" has somewhere to go (None is the shipped)
        self._loaded = False  # the first model loaded is where "Back" starts, not a switch
        self._recording: Path | None = None  # the session being recorded
        self.session: Path | None = None  # the last finished recording
        self.result: Path | None = None  # the last fine-tune's weights
        self.job = FinetuneJob(self)
        self.job.progress.connect(self._progress)
        self.job.finished.connect(self._finished)
        self.job.failed.connect(self._failed)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._weights_group())
        layout.addWidget(self._finetune_group(minutes))
        layout.addStretch(1)
        self.refresh()

    # ---- groups --------------------------------------------------------------------------------
    def _weights_group(self) -> QGroupBox:
        box = QGroupBox("Weights")
        layout = QVBoxLayout(box)
        self.picker = QComboBox()
        self.picker.setToolTip(_TIPS["picker"])
        self.picker.activated.connect(self._picked)
        self.weights_label = QLabel()
        self.weights_label.setWordWrap(True)
        self.weights_label.setObjectName("hint")
        self.back_button = QPushButton()
        self.back_button.clicked.connect(self.switch_back)
        layout.addWidget(self.picker)
        layout.addWidget(self.weights_label)
        layout.addWidget(self.back_button)
        return box

    def _finetune_group(self, minutes: float) -> QGroupBox:
        box = QGroupBox("Teach it your hand")
        layout = QVBoxLayout(box)
        self.session_label = QLabel("Record a session with your hand in the poses you care about "
                                    "(Record, R), then fine-tune on it here.")
        self.session_label.setWordWrap(True)
        self.session_label.setObjectName("hint")
        self.minutes_spin = QDoubleSpinBox()
        self.minutes_spin.setRange(0.01, 120.0)
        self.minutes_spin.setDecimals(2)
        self.minutes_spin.setSuffix(" min")
        self.minutes_spin.setValue(minutes)
        self.minutes_spin.setToolTip(_TIPS["minutes"])
        self.start_button = QPushButton("Fine-tune on this session")
        self.start_button.setToolTip(_TIPS["finetune"])
        self.start_button.clicked.connect(self.start_finetune)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel_finetune)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_label = QLabel()
        self.progress_label.setWordWrap(True)
        self.progress_label.setObjectName("hint")
        self.use_button = QPushButton("Use the new weights")
        self.use_button.clicked.connect(self.use_result)
        form = QFormLayout()
        form.addRow("Training time", self.minutes_spin)
        row = QHBoxLayout()
        row.addWidget(self.start_button, 1)
        row.addWidget(self.cancel_button)
        for widget in (self.session_label, self.progress_bar, self.progress_label, self.use_button):
            widget.setVisible(widget is self.session_label)
        layout.addWidget(self.session_label)
        layout.addLayout(form)
        layout.addLayout(row)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.progress_label)
        layout.addWidget(self.use_button)
        return box

    # ---- behaviour -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Re-list the weights, select the ones in use and set the buttons."""
        self.picker.clear()
        for choice in list_weights(self.personal_root, self.current):
            self.picker.addItem(choice.label, choice.path)
        for i in range(self.picker.count()):
            if same_weights(self.picker.itemData(i), self.current):
                self.picker.setCurrentIndex(i)
        self.weights_label.setText(f"In use: {describe(self.current)}")
        self.back_button.setVisible(self._switched and not same_weights(self.previous, self.current))
        self.back_button.setText(f"Back to {self.previous.name if self.previous else 'the shipped weights'}")
        running = self.job.is_running()
        self.start_button.setEnabled(self.session is not None and not running)
        self.cancel_button.setEnabled(running and not self.job.is_cancelling())
        self.minutes_spin.setEnabled(not running)
        self.use_button.setVisible(self.result is not None and not running
                                   and not same_weights(self.result, self.current))

    def recording_changed(self, path: str) -> None:
        """The worker started recording into `path`, or stopped (""): a stopped session can be used."""
        if path:
            self._recording = Path(path)
            self.session_label.setText(f"Recording {self._recording.name}…")
            return
        session, self._recording = self._recording, None
        if session is not None and (session / "raw.mp4").is_file():
            self.session = session
            self.session_label.setText(f"Session: {session.name}")
        self.refresh()

    def set_current(self, path: Path | None) -> None:
        """The weights the tracker now uses (the window calls this after loading them)."""
        if self._loaded and not same_weights(path, self.current):
            self.previous, self._switched = self.current, True
        self.current, self._loaded = path, True
        self.refresh()

    def _picked(self, index: int) -> None:
        path = self.picker.itemData(index)
        if not same_weights(path, self.current):
            self.weights_requested.emit(path)

    def use_result(self) -> None:
        if self.result is not None:
            self.weights_requested.emit(self.result)

    def switch_back(self) -> None:
        self.weights_requested.emit(self.previous)

    def start_finetune(self) -> None:
        """Fine-tune the weights in use on the last session, in the background."""
        if self.session is None or self.job.is_running():
            return
        out = new_output_dir(self.personal_root, self.session)
        self.result = None
        self.progress_bar.setValue(0)
        self.progress_label.setText("starting the fine-tune…")
        self.progress_bar.setVisible(True)
        self.progress_label.setVisible(True)
        self.job.start(self.session, out, self.minutes_spin.value(), self.current)
        self.refresh()

    def cancel_finetune(self) -> None:
        self.job.cancel()
        self.progress_label.setText("cancelling: removing what the fine-tune wrote…")
        self.refresh()

    def _progress(self, fraction: float, eta_s: float, message: str) -> None:
        if self.job.is_cancelling():
            return  # late reports would hide that it is being cancelled
        self.progress_bar.setValue(round(1000 * fraction))
        left = "estimating the time left" if eta_s < 0 else f"about {_duration(eta_s)} left"
        self.progress_label.setText(f"{100 * fraction:.0f}% · {left}\n{message}")

    def _finished(self, out: str) -> None:
        self.result = Path(out)
        self.progress_bar.setValue(1000)
        self.progress_label.setText(f"Done: {describe(self.result)}")
        self.refresh()

    def _failed(self, message: str) -> None:
        self.progress_bar.setVisible(False)
        self.progress_label.setText(message)
        self.errored.emit(message)
        self.refresh()
