"""Qt widgets and threads on Qt's offscreen platform (pytest-qt). The OpenGL view is in test_app_gl.py."""
from __future__ import annotations


import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PyQt6.QtCore import Qt, QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication, QMessageBox  # noqa: E402

from app.config import AppConfig  # noqa: E402
from app.controls import ControlPanel  # noqa: E402
from app.gesture_panel import GesturePanel  # noqa: E402
from app.gestures import GestureMatch, GestureStore  # noqa: E402
from app.panels.heatmaps import HeatmapPanel  # noqa: E402
from app.panels.plots import StatsPanel  # noqa: E402
from app.panels.video import VideoPanel  # noqa: E402
from app.pipeline import FrameResult  # noqa: E402
from app.worker import EstimatorInfo, Processed  # noqa: E402
from tests.conftest import make_hand  # noqa: E402


def _processed(loops=1, fps=20.0) -> Processed:
    hand = make_hand(np.random.default_rng(loops), loops)
    result = FrameResult(0, 0.0, np.zeros((48, 64, 3), np.uint8), hands=[hand],
                         timings={"dirnet": 5.0, "total": 9.0})
    return Processed(result=result, image=result.frame, latency_ms=30.0, fps=fps)


def test_video_panel_keeps_its_own_copy_and_shows_the_banner_above_the_video(qtbot):
    panel = VideoPanel()
    qtbot.addWidget(panel)
    panel.resize(400, 300)
    panel.show()
    panel.set_loading("loading DIR-Net", 1, 5)
    assert panel._stack.currentWidget() is not panel._view  # progress, not an empty pane
    image = np.full((48, 64, 3), 90, np.uint8)
    panel.set_image(image)
    assert panel._stack.currentWidget() is panel._view
    image[:] = 0  # the caller reuses its buffer: what is on screen must not change
    assert (panel.image() == 90).all() and (panel._image.image == 90).all()
    panel.set_message("camera 0 stopped delivering frames")
    qtbot.wait(20)
    assert panel.message() == "camera 0 stopped delivering frames" and panel.message_kind() == "error"
    banner = panel._banner.geometry()
    # above the video, not under it: nothing covers the banner's centre
    assert banner.bottom() < panel._view.geometry().top()
    assert panel.childAt(banner.center()) is panel._banner
    panel.set_message("no camera found: showing the built-in demo", "notice")
    assert panel.message_kind() == "notice"
    panel.set_message(None)
    assert panel.message() == ""


def test_heatmap_panel_shows_executed_loops_and_marks_skipped_ones(qtbot):
    panel = HeatmapPanel(max_loops=4)
    qtbot.addWidget(panel)
    processed = _processed(loops=2)
    panel.set_hand(processed.result.hands[0], processed.result.frame)
    titles = panel.titles()
    assert titles[0] == "loop 1<br>σ 2.0 px · exit 0.70" and "skipped" in titles[2]
    images = panel.images()
    assert images[0].width() == 112 and images[2] is None
    panel.set_hand(None)
    assert panel.titles()[0] == "loop 1"


@pytest.mark.parametrize("size, columns", [((420, 160), 4), ((300, 340), 2), ((120, 600), 1)])
def test_heatmap_grid_keeps_every_loop_visible_with_captions_apart(qtbot, size, columns):
    panel = HeatmapPanel(max_loops=4)
    qtbot.addWidget(panel)
    panel.resize(*size)
    panel.show()
    processed = _processed(loops=4)
    panel.set_hand(processed.result.hands[0], processed.result.frame)
    qtbot.wait(20)
    assert panel.columns() == columns
    tiles = [t.geometry() for t in panel._tiles]
    captions = [c.geometry() for c in panel._captions]
    inside = panel.rect()
    assert all(inside.contains(r) and r.width() >= 20 and r.height() >= 20 for r in tiles + captions)
    boxes = tiles + captions
    assert not any(a.intersects(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_stats_panel_counts_loops_and_redraws(qtbot):
    panel = StatsPanel(max_loops=4)
    qtbot.addWidget(panel)
    for loops in (1, 1, 3, 4, 4, 4):
        panel.add(_processed(loops))
    empty = FrameResult(0, 0.0, np.zeros((2, 2, 3), np.uint8))  # a frame without hands
    panel.add(Processed(result=empty, image=empty.frame, latency_ms=1.0, fps=7.0))
    np.testing.assert_array_equal(panel.histogram(), [2, 0, 1, 3])
    panel.redraw()
    x, y = panel._loops_curve.getData()
    assert y[-1] == 0 and y[-2] == 4


def test_stats_panel_goes_two_by_two_when_narrow(qtbot):
    panel = StatsPanel()
    qtbot.addWidget(panel)
    panel.resize(1100, 180)
    panel.show()
    qtbot.wait(20)
    assert panel.columns() == 4
    panel.resize(600, 240)
    qtbot.waitUntil(lambda: panel.columns() == 2 and panel.ci.geometry().width() <= 600, timeout=5000)
    for plot in panel._plots:  # all four inside the panel, none squeezed
        rect = plot.geometry()
        assert rect.width() > 200 and rect.height() > 80 and rect.right() <= 601 and rect.bottom() <= 241


def test_control_panel_emits_live_setting_changes(qtbot):
    panel = ControlPanel(AppConfig())
    qtbot.addWidget(panel)
    with qtbot.waitSignal(panel.settings_changed) as sig:
        panel.exit_combo.setCurrentIndex(panel.exit_combo.findData("variance"))
    assert sig.args == [{"exit_mode": "variance"}]
    with qtbot.waitSignal(panel.settings_changed) as sig:
        panel.tau_gate.set_value(4.0)
    assert sig.args[0]["tau_gate"] == pytest.approx(4.0, rel=0.01)
    panel.set_estimator_info(EstimatorInfo(input_res=224, exit_mode="gate", tau_var=60.0, tau_gate=1.0,
                                           max_loops=3, is_trained=False))
    assert panel.loops_spin.maximum() == 3 and "UNTRAINED" in panel.model_label.text()
    # spans around the weights' defaults where the loop count moves (tools/exit_sweep.py)
    panel.tau_gate.set_value(1e-3)
    assert panel.tau_gate.value() == pytest.approx(1.0, rel=0.01)
    panel.tau_gate.set_value(1e3)
    assert panel.tau_gate.value() == pytest.approx(26.0, rel=0.01)
    panel.tau_var.set_value(1e-3)
    assert panel.tau_var.value() == pytest.approx(15.0, rel=0.01)
    panel.tau_var.set_value(1e6)
    assert panel.tau_var.value() == pytest.approx(150.0, rel=0.01)
    assert panel.source_combo.findData("demo") >= 0
    with qtbot.waitSignal(panel.record_toggled) as sig:
        panel.record_button.click()
    assert sig.args == [True]
    panel.set_recording("/tmp/session-1")
    assert "Stop" in panel.record_button.text()


def test_the_threshold_the_exit_mode_ignores_is_greyed(qtbot):
    panel = ControlPanel(AppConfig())
    qtbot.addWidget(panel)
    enabled = {}
    for mode in ("gate", "variance", "none"):
        panel.exit_combo.setCurrentIndex(panel.exit_combo.findData(mode))
        enabled[mode] = (panel.tau_gate.isEnabled(), panel.tau_var.isEnabled())
    assert enabled == {"gate": (True, False), "variance": (False, True), "none": (False, False)}
    assert not panel.tau_var_label.isEnabled() and not panel.tau_gate_label.isEnabled()
    panel.cycle_exit_mode()  # none -> gate
    assert panel.exit_combo.currentData() == "gate" and panel.tau_gate.isEnabled()


def test_the_camera_mode_is_editable_only_for_a_camera(qtbot):
    panel = ControlPanel(AppConfig())
    qtbot.addWidget(panel)
    panel.show_source("asl_hand.25fps.mp4")
    assert not panel.resolution_combo.isEnabled() and not panel.fps_spin.isEnabled()
    assert panel.source_name() == "asl_hand.25fps.mp4"
    panel.show_source("camera 0")
    assert panel.resolution_combo.isEnabled() and panel.fps_spin.isEnabled()
    panel.show_source(None)  # nothing plays
    assert panel.source_name() == "No source"


def _answer(button: QMessageBox.StandardButton) -> None:
    """Click `button` in the next modal message box (the real dialog the user would see)."""
    def click():
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(10, click)
            return
        box.button(button).click()
    QTimer.singleShot(0, click)


def _samples(seed: int = 0) -> np.ndarray:
    return np.stack([make_hand(np.random.default_rng(seed)).joints3d] * 10)


def test_gesture_capture_counts_down_and_asks_before_replacing(qtbot, tmp_path):
    store = GestureStore(tmp_path / "g.json")  # no user file yet: the starters
    panel = GesturePanel(store, countdown_s=1)
    qtbot.addWidget(panel)
    assert "starters" in panel.path_label.text() and str(tmp_path / "g.json") in panel.path_label.text()
    panel.name_edit.setText("ok sign")
    with qtbot.waitSignal(panel.capture_requested, timeout=5000) as sig:
        panel.capture_button.click()
        assert panel.capture_button.text() == "Cancel (1)"  # time to pose before it starts
    assert sig.args == ["ok sign", 10] and not panel.capture_button.isEnabled()
    with qtbot.waitSignal(panel.gestures_changed) as sig:
        panel.add_captured("ok sign", _samples())
    assert "ok sign" in sig.args[0] and panel.capture_button.isEnabled()
    assert f"Saved in {tmp_path / 'g.json'}" == panel.path_label.text()

    requested = []
    panel.capture_requested.connect(lambda *args: requested.append(args))
    panel.name_edit.setText("fist")  # taken: asks first
    _answer(QMessageBox.StandardButton.No)
    panel.capture_button.click()
    qtbot.wait(1300)
    assert requested == [] and panel.capture_button.text() == "Capture"
    _answer(QMessageBox.StandardButton.Yes)
    panel.capture_button.click()
    qtbot.waitUntil(lambda: requested == [("fist", 10)], timeout=5000)

    panel.add_captured("fist", _samples(1))  # a countdown can also be cancelled
    panel.name_edit.setText("wave")
    panel.capture_button.click()
    panel.capture_button.click()
    qtbot.wait(1300)
    assert requested == [("fist", 10)] and panel.capture_status.text() == "capture cancelled"


def test_gesture_rename_delete_and_undo(qtbot, tmp_path):
    panel = GesturePanel(GestureStore(tmp_path / "g.json"))
    qtbot.addWidget(panel)
    names = panel.store.names()
    panel.list.findItems("fist", Qt.MatchFlag.MatchExactly)[0].setText("closed fist")
    assert GestureStore(tmp_path / "g.json").names()[names.index("fist")] == "closed fist"
    panel.list.findItems("closed fist", Qt.MatchFlag.MatchExactly)[0].setSelected(True)
    panel.delete_button.click()
    assert "closed fist" not in GestureStore(tmp_path / "g.json").names() and panel.undo_button.isEnabled()
    panel.undo_button.click()  # back, at its old place, on disk too
    assert GestureStore(tmp_path / "g.json").names()[names.index("fist")] == "closed fist"
    assert not panel.undo_button.isEnabled()
    hand = _processed().result.hands[0]
    hand.gesture = GestureMatch(name="fist", confidence=0.8)
    hand.gesture_changed = True
    panel.log_events([hand])
    panel.log_events([hand])  # same gesture again: logged once
    assert sum("left hand: fist" in panel.events.item(i).text() for i in range(panel.events.count())) == 1


def test_gesture_reset_export_and_import(qtbot, tmp_path):
    panel = GesturePanel(GestureStore(tmp_path / "g.json"))
    qtbot.addWidget(panel)
    starters = panel.store.names()
    panel.add_captured("wave", _samples())
    panel.export_to(tmp_path / "mine.json")
    assert GestureStore(tmp_path / "mine.json").names() == starters + ["wave"]
    _answer(QMessageBox.StandardButton.No)
    panel.reset_button.click()
    assert "wave" in panel.store.names()  # asked, refused
    _answer(QMessageBox.StandardButton.Yes)
    panel.reset_button.click()
    assert GestureStore(tmp_path / "g.json").names() == starters
    other = GestureStore(tmp_path / "other.json")
    other.gestures = {}
    other.add("fist", _samples(2))
    other.add("wave", _samples(3))
    other.save()
    _answer(QMessageBox.StandardButton.No)  # keep my fist, take the rest
    panel.import_from(tmp_path / "other.json")
    assert panel.store.names() == starters + ["wave"]
    np.testing.assert_allclose(panel.store.gestures["wave"].samples, _samples(3), atol=0.01)
    assert not np.allclose(panel.store.gestures["fist"].samples[0], _samples(2)[0], atol=0.01)
    _answer(QMessageBox.StandardButton.Yes)  # now replace it
    panel.import_from(tmp_path / "other.json")
    np.testing.assert_allclose(GestureStore(tmp_path / "g.json").gestures["fist"].samples, _samples(2),
                               atol=0.01)


def test_gesture_list_shows_eight_rows_before_it_scrolls(qtbot, tmp_path):
    panel = GesturePanel(GestureStore(tmp_path / "g.json"))
    qtbot.addWidget(panel)
    for i in range(4):
        panel.add_captured(f"extra {i}", _samples(i))
    panel.show()
    qtbot.wait(20)
    assert panel.list.count() == 10
    viewport = panel.list.viewport().rect()
    assert all(viewport.contains(panel.list.visualItemRect(panel.list.item(i))) for i in range(8))


def test_fast_mesh_normals_match_pyqtgraph():
    import pyqtgraph.opengl as gl

    from app.panels.mesh3d import _MeshData
    from dirnet.hand import create_hand_model

    model = create_hand_model("open")
    verts, faces = model.v_template.numpy(), model.faces.numpy().astype(np.int32)
    ours = _MeshData(vertexes=verts, faces=faces).vertexNormals(indexed="faces")
    reference = gl.MeshData(vertexes=verts, faces=faces).vertexNormals(indexed="faces")
    np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_a_deferred_stats_panel_keeps_what_it_is_given_until_its_plots_are_built(qtbot):
    panel = StatsPanel(deferred=True)
    qtbot.addWidget(panel)
    assert panel.columns() == 0 and not panel._plots  # a note instead of plots: they cost start-up time
    panel.set_max_loops(3)
    for loops in (1, 3, 3):
        panel.add(_processed(loops))
    panel.redraw()
    panel.build()
    x, y = panel._loops_curve.getData()
    assert list(y[-3:]) == [1, 3, 3] and panel.loops_plot.viewRange()[1][1] == pytest.approx(3.3)
    np.testing.assert_array_equal(panel.histogram(), [1, 0, 2])
