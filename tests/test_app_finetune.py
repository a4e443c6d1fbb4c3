"""The window's fine-tune flow on Qt's offscreen platform: a recording session of the real clip is
offered for fine-tuning once its recording stops, the fine-tune (a real, short `dirnet.finetune`)
runs in the background while tracking goes on, the window switches to the new weights and back,
and Cancel leaves nothing behind.

The session folder is written here (raw.mp4 from the clip's frames) and announced through the
worker's `recording_changed` signal, as a finished recording is: recording itself is covered by
test_app_window and test_app_recording, and a machine busy with training could not record the
hundred frames with a hand that the fine-tune asks for in any reasonable time.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

pytest.importorskip("pytestqt")

from app.config import AppConfig  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.personal_weights import same_weights  # noqa: E402
from tests.conftest import shared_path  # noqa: E402

LOAD_MS = 300_000  # torch, DIR-Net and MediaPipe on a busy 2-core machine
FINETUNE_MS = 900_000  # labelling 110 frames, scoring, a second of training, the gate: ~40 s of CPU
FRAMES = 110  # the fine-tune asks for at least 100 frames with a confident hand


def _session(folder: Path) -> Path:
    """A recording session folder: raw.mp4 with the clip's first FRAMES frames at half size."""
    folder.mkdir(parents=True)
    capture = cv2.VideoCapture(str(shared_path("data", "asl_video", "asl_hand.25fps.mp4")))
    writer = None
    for _ in range(FRAMES):
        ok, frame = capture.read()
        assert ok
        frame = cv2.resize(frame, (frame.shape[1] // 2, frame.shape[0] // 2))
        if writer is None:
            writer = cv2.VideoWriter(str(folder / "raw.mp4"), cv2.VideoWriter_fourcc(*"mp4v"), 25.0,
                                     (frame.shape[1], frame.shape[0]))
        writer.write(frame)
    writer.release()
    capture.release()
    return folder


@pytest.mark.timeout(2400)  # about a minute of CPU; much longer while training jobs share the machine
def test_fine_tune_a_recording_switch_to_it_and_back_and_cancel(qtbot, tmp_path):
    mine = tmp_path / "mine"
    session = _session(tmp_path / "sessions" / "session-20261130-101010")
    config = AppConfig(source="demo", width=320, height=240, personal_weights=mine, finetune_minutes=0.02,
                       gestures=tmp_path / "gestures.json")
    window = MainWindow(config)
    qtbot.addWidget(window)
    panel = window.finetune
    assert window.tabs.tabText(2) == "Your hand"
    window.tabs.setCurrentIndex(2)
    window.show()
    window.start()
    qtbot.waitUntil(lambda: window.frames_shown >= 1, timeout=LOAD_MS)
    assert panel.picker.currentText() == "Shipped weights" and not panel.start_button.isEnabled()
    window.worker.recording_changed.emit(str(session))  # what the worker says while it records ...
    assert not panel.start_button.isEnabled()
    window.worker.recording_changed.emit("")  # ... and when the recording stops
    assert panel.session == session and panel.start_button.isEnabled()

    progress = []
    panel.job.progress.connect(lambda fraction, eta, message: progress.append((fraction, eta, message)))
    shown = window.frames_shown
    with qtbot.waitSignal(panel.job.finished, timeout=FINETUNE_MS) as done:
        panel.start_button.click()
        assert panel.cancel_button.isEnabled() and not panel.start_button.isEnabled()
    assert window.frames_shown > shown  # tracking went on meanwhile
    result = Path(done.args[0])
    assert result == mine / session.name and (result / "finetuned.safetensors").is_file()
    phases = {message.split(":")[0] for _, _, message in progress}
    assert "labelling with MediaPipe" in phases and progress[-1][0] == 1.0
    assert any(eta > 0 for _, eta, _ in progress) and panel.progress_label.text().startswith("Done: ")
    meta = json.loads((result / "finetuned.json").read_text())
    assert meta["finetune"]["inputs"] == [str((session / "raw.mp4").resolve())]

    # offered: switch to the new weights; the picker lists them; "Back" returns to the shipped ones
    assert panel.use_button.isVisible()
    panel.use_button.click()
    qtbot.waitUntil(lambda: same_weights(panel.current, result), timeout=LOAD_MS)
    assert panel.picker.currentText() == f"Mine: {session.name}" and panel.back_button.isVisible()
    assert not panel.use_button.isVisible() and "fine-tuned on session-20261130-101010" in panel.weights_label.text()
    panel.back_button.click()
    qtbot.waitUntil(lambda: panel.current is None, timeout=LOAD_MS)
    assert panel.picker.currentText() == "Shipped weights"

    # a second run, cancelled while it labels: nothing of it is left beside the first
    progress.clear()
    with qtbot.waitSignal(panel.job.failed, timeout=LOAD_MS) as failed:
        panel.start_button.click()
        qtbot.waitUntil(lambda: bool(progress), timeout=LOAD_MS)
        panel.cancel_button.click()
    assert failed.args[0] == "fine-tune cancelled; nothing written"
    assert sorted(p.name for p in mine.iterdir()) == [session.name]
    assert panel.start_button.isEnabled() and not panel.cancel_button.isEnabled()
    window.close()
