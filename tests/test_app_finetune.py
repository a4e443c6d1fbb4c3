"""The window's fine-tune flow on Qt's offscreen platform: record the real clip, fine-tune on the
session in the background (a real, short `dirnet.finetune`) while tracking goes on, switch to the
new weights and back; and Cancel, which leaves nothing behind."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from app.config import AppConfig  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.personal_weights import same_weights  # noqa: E402
from tests.conftest import shared_path  # noqa: E402

LOAD_MS = 180_000  # torch, DIR-Net and MediaPipe on a busy 2-core machine
FINETUNE_MS = 600_000  # labelling ~120 frames, scoring, a few seconds of training, the gate
RECORDED = 120  # processed frames of the clip to record: enough confident hands (>= 100) to fine-tune on


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.is_file() else 0


@pytest.mark.timeout(1800)  # about a minute of CPU; much longer while training jobs share the machine
def test_fine_tune_a_recording_switch_to_it_and_back_and_cancel(qtbot, tmp_path):
    clip = shared_path("data", "asl_video", "asl_hand.25fps.mp4")
    mine = tmp_path / "mine"
    config = AppConfig(source=str(clip), record=tmp_path / "sessions", personal_weights=mine,
                       finetune_minutes=0.02, gestures=tmp_path / "gestures.json")
    window = MainWindow(config)
    qtbot.addWidget(window)
    panel = window.finetune
    assert panel.picker.currentText() == "Shipped weights" and not panel.start_button.isEnabled()
    window.show()
    window.tabs.setCurrentWidget(window.tabs.widget(2))  # "Your hand"
    assert window.tabs.tabText(2) == "Your hand"
    window.start()
    qtbot.waitUntil(lambda: window.controls.record_button.isChecked(), timeout=LOAD_MS)
    (session,) = (tmp_path / "sessions").iterdir()
    qtbot.waitUntil(lambda: _lines(session / "frames.jsonl") >= RECORDED, timeout=FINETUNE_MS)
    window.controls.record_button.click()  # stop: the session can now be fine-tuned on
    qtbot.waitUntil(panel.start_button.isEnabled, timeout=30_000)
    assert panel.session == session

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
    assert not panel.use_button.isVisible()
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
