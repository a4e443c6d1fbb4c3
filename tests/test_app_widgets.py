"""Qt widgets and threads on Qt's offscreen platform (pytest-qt). The OpenGL view is in test_app_gl.py."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt  # noqa: E402

from app.config import AppConfig  # noqa: E402
from app.controls import ControlPanel  # noqa: E402
from app.gesture_panel import GesturePanel  # noqa: E402
from app.gestures import GestureStore  # noqa: E402
from app.panels.heatmaps import HeatmapPanel  # noqa: E402
from app.panels.plots import StatsPanel  # noqa: E402
from app.panels.video import VideoPanel  # noqa: E402
from app.pipeline import FrameResult  # noqa: E402
from tests.test_app_recording import _hand  # noqa: E402


def _processed(loops=1, fps=20.0):
    hand = _hand(np.random.default_rng(loops))
    hand.pose = SimpleNamespace(**{**vars(hand.pose), "loops": loops, "gflops": 0.1 * loops,
                                   "trace": hand.pose.trace * loops})
    result = FrameResult(0, 0.0, np.zeros((48, 64, 3), np.uint8), hands=[hand],
                         timings={"dirnet": 5.0, "total": 9.0})
    return SimpleNamespace(result=result, image=result.frame, fps=fps, latency_ms=30.0)


def test_video_panel_shows_images_and_a_message_banner(qtbot):
    panel = VideoPanel()
    qtbot.addWidget(panel)
    panel.show()
    image = np.full((48, 64, 3), 90, np.uint8)
    panel.set_image(image)
    assert np.shares_memory(panel._image.image, image)  # shown in place, no copy
    panel.set_message("camera 0 stopped delivering frames")
    assert panel.message() == "camera 0 stopped delivering frames"
    panel.set_message(None)
    assert panel.message() == ""


def test_heatmap_panel_shows_executed_loops_and_marks_skipped_ones(qtbot):
    panel = HeatmapPanel(max_loops=4)
    qtbot.addWidget(panel)
    processed = _processed(loops=2)
    panel.set_hand(processed.result.hands[0])
    titles = panel.titles()
    assert titles[0] == "loop 1<br>σ 2.0 px · exit 0.70" and "skipped" in titles[2]
    assert panel._images[0].image.shape == (112, 112, 3)
    panel.set_hand(None)
    assert panel.titles()[0] == "loop 1"


def test_stats_panel_counts_loops_and_redraws(qtbot):
    panel = StatsPanel(max_loops=4)
    qtbot.addWidget(panel)
    for loops in (1, 1, 3, 4, 4, 4):
        panel.add(_processed(loops))
    panel.add(SimpleNamespace(result=FrameResult(0, 0.0, np.zeros((2, 2, 3), np.uint8)), fps=7.0,
                              latency_ms=1.0))  # a frame without hands
    np.testing.assert_array_equal(panel.histogram(), [2, 0, 1, 3])
    panel.redraw()
    assert panel.fps == 7.0
    x, y = panel._loops_curve.getData()
    assert y[-1] == 0 and y[-2] == 4


def test_control_panel_emits_live_setting_changes(qtbot):
    panel = ControlPanel(AppConfig())
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.settings_changed) as sig:
        panel.exit_combo.setCurrentIndex(panel.exit_combo.findData("variance"))
    assert sig.args == [{"exit_mode": "variance"}]
    with qtbot.waitSignal(panel.settings_changed) as sig:
        panel.tau_gate.set_value(4.0)
    assert sig.args[0]["tau_gate"] == pytest.approx(4.0, rel=0.01)
    panel.set_estimator_info(SimpleNamespace(input_res=224, exit="gate", tau_var=20.0, tau_gate=1.0,
                                             max_loops=3, is_trained=False))
    assert panel.loops_spin.maximum() == 3 and "UNTRAINED" in panel.model_label.text()
    assert panel.source_combo.findData("demo") >= 0
    with qtbot.waitSignal(panel.record_toggled) as sig:
        panel.record_button.click()
    assert sig.args == [True]
    panel.set_recording("/tmp/session-1")
    assert "Stop" in panel.record_button.text()


def test_gesture_panel_capture_rename_delete(qtbot, tmp_path):
    store = GestureStore(tmp_path / "g.json")
    panel = GesturePanel(store)
    qtbot.addWidget(panel)
    panel.name_edit.setText("ok sign")
    with qtbot.waitSignal(panel.capture_requested) as sig:
        panel.capture_button.click()
    assert sig.args == ["ok sign", 10] and not panel.capture_button.isEnabled()
    samples = np.stack([_hand(np.random.default_rng(0)).joints3d] * 10)
    with qtbot.waitSignal(panel.gestures_changed) as sig:
        panel.add_captured("ok sign", samples)
    assert "ok sign" in sig.args[0] and (tmp_path / "g.json").exists() and panel.capture_button.isEnabled()
    item = panel.list.findItems("ok sign", Qt.MatchFlag.MatchExactly)[0]
    item.setText("okay")
    assert "okay" in GestureStore(tmp_path / "g.json").names()
    panel.list.findItems("okay", Qt.MatchFlag.MatchExactly)[0].setSelected(True)
    panel.delete_button.click()
    assert "okay" not in GestureStore(tmp_path / "g.json").names()
    hand = _processed().result.hands[0]
    hand.gesture = SimpleNamespace(name="fist", confidence=0.8)
    hand.gesture_changed = True
    panel.log_events([hand])
    panel.log_events([hand])  # same gesture again: logged once
    assert panel.events.count() == 2 and "fist" in panel.events.item(0).text()  # + the capture line


def test_fast_mesh_normals_match_pyqtgraph():
    import pyqtgraph.opengl as gl

    from app.panels.mesh3d import _MeshData
    from dirnet.hand import create_hand_model

    model = create_hand_model("open")
    verts, faces = model.v_template.numpy(), model.faces.numpy().astype(np.int32)
    ours = _MeshData(vertexes=verts, faces=faces).vertexNormals(indexed="faces")
    reference = gl.MeshData(vertexes=verts, faces=faces).vertexNormals(indexed="faces")
    np.testing.assert_allclose(ours, reference, atol=1e-5)
