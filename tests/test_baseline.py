"""dirnet.evaluation.baseline: MediaPipe Hands scored on the evaluation's crops (real MediaPipe, real clip)."""
import json

import numpy as np
import pytest

from dirnet.evaluation.baseline import BASELINE_RES, compare_on_found, mediapipe_errors
from dirnet.evaluation.sources import open_source, parse_spec
from dirnet.evaluation.metrics import JointErrors
from dirnet.evaluation.__main__ import main
from tests.conftest import shared_path
from tests.conftest import write_checkpoint, write_teacher_set


def _clip_spec(hand: str) -> str:
    root = shared_path("data", "asl_video")
    return (f"video:{root / 'asl_hand.25fps.mp4'}:{root / 'asl_hand.full.json'}:"
            f"{root / 'asl_hand_3d.full.json'}:{hand}")


@pytest.mark.parametrize("hand", ["right", "left"])
def test_mediapipe_on_crops_agrees_with_its_own_labels(hand):
    """The clip's labels are MediaPipe's: on crops around them it must land on them again.

    Declaring the right hand "left" mirrors every crop; the landmarks must still map back to the
    frame, and the 3D ones be mirrored back (PA-MPJPE cannot undo a reflection).
    """
    source = open_source(parse_spec(_clip_spec(hand)), BASELINE_RES, limit=8)
    errors, found = mediapipe_errors(source)
    assert found.sum() >= 6
    assert np.nanmean(errors.crop256[found]) < 12.0
    assert np.nanmean(errors.pa[found]) < 8.0
    assert np.isnan(errors.px[~found]).all()


def test_no_hand_found_is_counted_not_scored(tmp_path):
    source = open_source(parse_spec(f"teacher:{write_teacher_set(tmp_path / 'noise', n=4)}"), BASELINE_RES)
    errors, found = mediapipe_errors(source)
    assert found.shape == (4,) and not found.any() and np.isnan(errors.crop256).all()
    three = JointErrors(*(a[:3] for a in (errors.px, errors.crop256, errors.mm, errors.pa)))
    with pytest.raises(ValueError, match="cover 3 crops"):
        compare_on_found(errors, found, {"gate": three})

def test_cli_reports_mediapipe_beside_dirnet_on_the_same_crops(tmp_path, capsys):
    weights = write_checkpoint(tmp_path / "w")
    assert main(["--weights", str(weights), "--data", _clip_spec("right"), "--out", str(tmp_path),
                 "--limit", "6", "--exit", "gate", "--mediapipe"]) == 0
    source = json.loads((tmp_path / "metrics.json").read_text())["sources"]["video_asl_hand.25fps"]
    report = source["mediapipe"]
    assert report["n"] == 6 and report["found"] == report["mediapipe"]["n"] >= 5
    assert set(report["dirnet_same_crops"]) == {"loops_3", "gate"}
    # Untrained DIR-Net against MediaPipe on its own labels: MediaPipe must come out far ahead.
    assert report["mediapipe"]["err2d_mean"] < report["dirnet_same_crops"]["gate"]["err2d_mean"]
    assert "MediaPipe Hands (full) found a hand in" in capsys.readouterr().out
