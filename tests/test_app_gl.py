"""The OpenGL mesh view and the whole window, under a real X display (xvfb-run in CI).

pyqtgraph.opengl crashes on Qt's offscreen platform, and the other widget tests run offscreen in
this process, so these run in subprocesses on the xcb platform. Skipped without a DISPLAY.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not os.environ.get("DISPLAY"),
                                 reason="the OpenGL view needs an X display: run the suite under xvfb-run")]


def _run(args, timeout):
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=ROOT, env=env)


MESH_SCRIPT = textwrap.dedent("""
    import sys, numpy as np, torch
    sys.path.insert(0, {root!r})
    from PyQt6 import QtCore, QtWidgets
    from app.pipeline import HandResult
    from dirnet import Box, HandPose
    from dirnet.hand import create_hand_model
    from dirnet.hand.poses import gesture_angles
    app = QtWidgets.QApplication([])
    from app.theme import apply_theme
    apply_theme(app)
    from app.panels.mesh3d import MeshPanel
    model = create_hand_model("open")
    with torch.no_grad():
        pose = model.angles_to_pose(torch.from_numpy(gesture_angles("victory"))[None])
        out = model(torch.eye(3)[None], pose, torch.zeros(1, model.num_shape))
    v, j = out.vertices[0].numpy(), out.joints[0].numpy()
    var3d = np.tile(np.linspace(1, 600, 21)[:, None], (1, 3)).astype(np.float32)
    zeros2d = np.zeros((21, 2), np.float32)
    pose = HandPose("right", zeros2d, j, v, model.faces.numpy().astype(np.int32), zeros2d, var3d, 1, 0.1, (),
                    Box(0.0, 0.0, 1.0))
    hand = HandResult(0, "right", pose.box, pose, zeros2d, zeros2d, j, v)
    panel = MeshPanel()
    panel.resize(320, 320)
    panel.show()
    def shoot():
        panel.set_color_mode("skin")
        panel.set_hands([hand])
        panel.grabFramebuffer().save(sys.argv[1])
        panel.set_color_mode("uncertainty")
        panel.set_hands([hand, hand], order_x=[300.0, 100.0])
        panel.grabFramebuffer().save(sys.argv[2])
        app.quit()
    QtCore.QTimer.singleShot(300, shoot)
    app.exec()
""")


def test_mesh_panel_draws_lit_skin_and_uncertainty_colours(tmp_path):
    skin_png, heat_png = tmp_path / "skin.png", tmp_path / "heat.png"
    proc = _run(["-c", MESH_SCRIPT.format(root=str(ROOT)), str(skin_png), str(heat_png)], timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    skin = cv2.imread(str(skin_png))[..., ::-1].astype(int)
    lit_skin = (skin[..., 0] > 120) & (skin[..., 0] - skin[..., 2] > 20)  # lit and skin-toned
    assert 0.03 < lit_skin.mean() < 0.6  # the hand fills a fair part of the view
    heat = cv2.imread(str(heat_png))[..., ::-1].astype(int)
    hot = heat[..., 0] - heat[..., 2] > 100  # heat-map colours (red to yellow)
    assert hot.mean() > 0.02 and (skin[..., 0] - skin[..., 2] > 100).mean() < 0.1 * hot.mean()
    columns = np.flatnonzero(hot.any(0))
    assert np.diff(columns).max() > 5  # two hands side by side with a gap between them


@pytest.mark.timeout(420)
def test_window_screenshot_with_the_demo_source_on_a_1280x720_screen(tmp_path):
    """The whole window, with its real OpenGL view, on a laptop-sized screen of its own (a second
    Xvfb when xvfb-run is there; else the current display, whatever its size)."""
    png = tmp_path / "window.png"
    laptop = ["xvfb-run", "-a", "-s", "-screen 0 1280x720x24"] if shutil.which("xvfb-run") else []
    args = ["main.py", "--source", "demo", "--max-frames", "12", "--screenshot", str(png), "--fresh"]
    env = {**os.environ, "QT_QPA_PLATFORM": "xcb"}
    proc = subprocess.run([*laptop, sys.executable, *args], capture_output=True, text=True, timeout=400,
                          cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "startup: window" in proc.stdout  # the start-up milestones are reported
    image = cv2.imread(str(png))
    assert image is not None and image.shape[1] >= 1200 and image.shape[0] >= 700
    if laptop:
        assert image.shape[:2] == (720, 1280)  # the window fits the screen
    h, w = image.shape[:2]
    mesh_view = image[int(0.05 * h):int(0.6 * h), int(0.75 * w):]
    # the GL view painted its background and grid (a failed GL context leaves it black or uniform)
    assert mesh_view.mean() > 15 and mesh_view.std() > 2
    video = image[int(0.1 * h):int(0.6 * h), int(0.25 * w):int(0.7 * w)]
    assert video.std() > 8
