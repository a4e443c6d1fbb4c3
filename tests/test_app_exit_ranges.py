"""The exit sliders span the range where they change something: every part of each slider moves
the mean number of refiner loops on real crops (the ASL clip) or the demo, with the shipped weights."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from app.config import AppConfig  # noqa: E402
from app.controls import ControlPanel  # noqa: E402
from app.worker import EstimatorInfo  # noqa: E402
from dirnet import DEFAULT_MARGIN, DemoHand, Estimator, box_from_points, crop_matrix, warp  # noqa: E402
from tests.conftest import shared_path  # noqa: E402
from tools.exit_sweep import clip_crops, mean_loops  # noqa: E402

POSITIONS = np.linspace(0.0, 1.0, 5)  # slider ends and quarters


@pytest.fixture(scope="module")
def estimator() -> Estimator:
    estimator = Estimator.from_pretrained()
    if not estimator.is_trained:
        pytest.skip("slider spans are chosen for trained weights")
    return estimator


@pytest.fixture(scope="module")
def crops(estimator) -> dict[str, list[np.ndarray]]:
    res = estimator.input_res
    demo = DemoHand(320, 240)
    demo_crops = [warp(demo.render(t), crop_matrix(box_from_points(demo.joints2d_at(t), DEFAULT_MARGIN), res), res)
                  for t in np.arange(0.0, 6.0, 0.2)]  # 30 moments over every demo gesture
    clip = shared_path("data", "asl_video", "asl_hand.25fps.mp4")
    return {"demo": demo_crops, "asl": clip_crops(clip, 180, res)[::6]}


def _slider_values(qtbot, estimator, name: str) -> list[float]:
    panel = ControlPanel(AppConfig())
    qtbot.addWidget(panel)
    d = estimator.defaults
    panel.set_estimator_info(EstimatorInfo(input_res=estimator.input_res, exit_mode=d.exit_mode, tau_var=d.tau_var,
                                           tau_gate=d.tau_gate, max_loops=d.max_loops, is_trained=True))
    slider = getattr(panel, name)
    values = []
    for position in POSITIONS:
        slider._slider.setValue(round(position * slider._slider.maximum()))
        values.append(slider.value())
    return values


@pytest.mark.parametrize("name, mode", [("tau_gate", "gate"), ("tau_var", "variance")])
def test_every_quarter_of_the_slider_moves_the_mean_loops(qtbot, estimator, crops, name, mode):
    values = _slider_values(qtbot, estimator, name)
    loops = {source: [mean_loops(estimator, c, exit_mode=mode, **{name: v}) for v in values]
             for source, c in crops.items()}
    for q in range(len(values) - 1):
        moved = max(abs(series[q + 1] - series[q]) for series in loops.values())
        assert moved >= 0.05, f"{name} {values[q]:.3g}..{values[q + 1]:.3g} changes nothing: {loops}"
