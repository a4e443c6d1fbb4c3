"""Estimator, checkpoints and the predict CLI on images the tests write."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dirnet.config import DIRNetConfig
from dirnet.crop import (DEFAULT_MARGIN, Box, box_from_points, crop_matrix, invert_affine, reframe_box,
                         transform_points, warp)
from dirnet.estimator import Estimator
from dirnet.hand import create_hand_model
from dirnet.models.dirnet import DIRNet
from dirnet.weights import load_checkpoint, save_checkpoint
from tests.conftest import shared_path

RES = 64


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    hand = create_hand_model("open")
    model = DIRNet(DIRNetConfig.from_preset("fpha", input_res=RES, num_shape=hand.num_shape), hand)
    # Spread the untrained heads so outputs differ between images. "exit" is the defaults key of
    # older checkpoints (now exit_mode): it must still be read.
    torch.nn.init.normal_(model.pose_head.fc2.weight, std=0.05)
    return save_checkpoint(model.eval(), tmp_path_factory.mktemp("w") / "tiny",
                           {"defaults": {"exit": "variance", "tau_var": 10.0, "tau_gate": 1.0, "max_loops": 3}})


@pytest.fixture(scope="module")
def estimator(checkpoint) -> Estimator:
    return Estimator.from_pretrained(checkpoint)


def _image(seed: int, h: int = 90, w: int = 70) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = cv2.resize(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(image)


def test_estimate_returns_poses_in_crop_pixels(estimator):
    crops = [_image(1), _image(2, 120, 120)]
    poses = estimator.estimate(crops, ["right", "left"], exit_mode="none", max_loops=2)
    assert len(poses) == 2
    for pose, crop in zip(poses, crops):
        h, w = crop.shape[:2]
        assert pose.box == Box((w - 1) / 2, (h - 1) / 2, max(h, w))  # the whole crop, squared
        assert pose.joints2d.shape == (21, 2) and pose.joints2d.dtype == np.float32
        assert pose.joints3d.shape == (21, 3) and pose.vertices.shape[1] == 3
        assert pose.loops == 2 and len(pose.trace) == 2
        assert pose.gflops == pytest.approx(estimator.stage_flops.gflops(2))
        assert np.all(pose.var2d > 0) and np.all(np.isfinite(pose.joints2d))
    assert estimator.defaults.exit_mode == "variance" and estimator.is_trained
    assert estimator.estimate([], []) == []


def test_left_hand_mirroring_round_trips(estimator):
    crop = _image(3, 80, 80)
    right = estimator.estimate([crop], ["right"], exit_mode="none")[0]
    left = estimator.estimate([np.ascontiguousarray(crop[:, ::-1])], ["left"], exit_mode="none")[0]
    assert np.allclose(left.joints2d[:, 0], 79 - right.joints2d[:, 0], atol=1e-3)
    assert np.allclose(left.joints2d[:, 1], right.joints2d[:, 1], atol=1e-3)
    assert np.allclose(left.joints3d, right.joints3d * [-1, 1, 1], atol=1e-3)
    assert np.array_equal(left.faces, right.faces[:, ::-1])


def test_non_square_crop_maps_back_to_its_pixels(estimator):
    # The same content padded to a square must give the same joints, shifted by the padding.
    crop = _image(4, 64, 40)
    square = cv2.copyMakeBorder(crop, 0, 0, 12, 12, cv2.BORDER_CONSTANT)
    a = estimator.estimate([crop], "right", exit_mode="none")[0]
    b = estimator.estimate([square], "right", exit_mode="none")[0]
    assert np.allclose(a.joints2d + [12, 0], b.joints2d, atol=0.05)


def test_frame_and_boxes_give_frame_pixels(estimator):
    """estimate(frame, boxes=...) is the crop of each box, run, and mapped back into the frame."""
    frame = _image(6, 240, 320)
    boxes = [Box(100.0, 120.0, 90.0), Box(230.5, 100.0, 150.0)]
    poses = estimator.estimate(frame, ["right", "left"], boxes=boxes, exit_mode="none", max_loops=2)
    for box, hand, pose in zip(boxes, ["right", "left"], poses):
        matrix = crop_matrix(box, RES)
        alone = estimator.estimate([warp(frame, matrix, RES)], hand, exit_mode="none", max_loops=2)[0]
        assert pose.box == box and alone.box == Box((RES - 1) / 2, (RES - 1) / 2, RES)
        to_frame = invert_affine(matrix)
        assert np.allclose(pose.joints2d, transform_points(alone.joints2d, to_frame), atol=0.05)
        for got, want in zip(pose.trace, alone.trace):
            assert np.allclose(got.joints2d, transform_points(want.joints2d, to_frame), atol=0.05)
            assert np.allclose(got.var2d, want.var2d * (box.size / RES) ** 2, rtol=1e-3)
        assert np.allclose(pose.joints3d, alone.joints3d, atol=1e-3)
    assert estimator.estimate(frame, [], boxes=[]) == []


def test_bad_input_is_refused_clearly(estimator):
    with pytest.raises(ValueError, match="RGB uint8"):
        estimator.estimate([np.zeros((50, 50), np.uint8)], "right")
    with pytest.raises(ValueError, match="needs boxes"):
        estimator.estimate(_image(5), "right")
    with pytest.raises(ValueError, match="the frame must be an RGB uint8"):
        estimator.estimate(_image(5).astype(np.float32), "right", boxes=[Box(30, 30, 40)])
    with pytest.raises(ValueError, match="size > 0"):
        estimator.estimate(_image(5), "right", boxes=[Box(30, 30, 0)])
    with pytest.raises(ValueError, match="reframe"):
        estimator.estimate(_image(5), "right", boxes=[Box(30, 30, 40)], reframe=True)
    with pytest.raises(ValueError, match="2 hands but 1 handedness"):
        estimator.estimate(_image(5), ["right"], boxes=[Box(30, 30, 40)] * 2)
    with pytest.raises(ValueError, match="handedness"):
        estimator.estimate([_image(5)], ["up"])
    with pytest.raises(ValueError, match="exit mode"):
        estimator.estimate([_image(5)], "right", exit_mode="sometimes")


def test_checkpoint_round_trip_and_refusals(checkpoint, tmp_path):
    model, meta = load_checkpoint(checkpoint)
    images = torch.rand(1, 3, RES, RES)
    reference, _ = load_checkpoint(checkpoint)
    assert torch.allclose(model(images)[-1].joints3d, reference(images)[-1].joints3d)
    assert meta["hand_model"] == "open"

    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(checkpoint.read_bytes()[:1000])
    (tmp_path / "cut.json").write_text(checkpoint.with_suffix(".json").read_text())
    with pytest.raises(ValueError, match="truncated or not safetensors"):
        load_checkpoint(truncated)

    other = json.loads(checkpoint.with_suffix(".json").read_text())
    other["hand_model"] = "mano"
    (tmp_path / "mano.json").write_text(json.dumps(other))
    (tmp_path / "mano.safetensors").write_bytes(checkpoint.read_bytes())
    with pytest.raises(ValueError, match="trained with the 'mano' hand model"):
        load_checkpoint(tmp_path / "mano", hand=create_hand_model("open"))

    wrong = json.loads(checkpoint.with_suffix(".json").read_text())
    wrong["config"]["base_channels"] = 32
    (tmp_path / "wide.json").write_text(json.dumps(wrong))
    (tmp_path / "wide.safetensors").write_bytes(checkpoint.read_bytes())
    with pytest.raises(ValueError, match="shape"):
        load_checkpoint(tmp_path / "wide")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "absent")
    # a folder stands for the one checkpoint in it (what dirnet.finetune writes), else it is refused
    assert load_checkpoint(checkpoint.parent)[1]["hand_model"] == "open"
    with pytest.raises(FileNotFoundError, match="holds 3 checkpoints"):
        load_checkpoint(tmp_path)


def test_untrained_fallback_warns_loudly(monkeypatch, tmp_path):
    import dirnet.estimator as module
    monkeypatch.setattr(module, "DEFAULT_WEIGHTS", tmp_path / "none")
    with pytest.warns(RuntimeWarning, match="UNTRAINED"):
        est = Estimator.from_pretrained(backend="eager")
    assert not est.is_trained and est.weights_path is None


def _predict(args, capsys) -> tuple[int, str]:
    """`python -m dirnet.predict ARGS --eager` in this process: (exit status, stderr)."""
    from dirnet.predict import main

    capsys.readouterr()
    status = main([*map(str, args), "--eager"])
    return status, capsys.readouterr().err


def test_predict_cli_end_to_end_with_a_corrupt_file(checkpoint, tmp_path, capsys):
    folder = tmp_path / "crops"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"hand{i}.png"), _image(10 + i, 100, 100 + 10 * i))
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    out = tmp_path / "preds.json"
    status, err = _predict(["--input-dir", folder, "--out", out, "--weights", checkpoint, "--exit", "gate"], capsys)
    assert status == 0, err
    assert err.count("broken.jpg") == 1
    preds = json.loads(out.read_text())
    assert sorted(preds) == ["hand0.png", "hand1.png", "hand2.png"]
    for p in preds.values():
        assert np.asarray(p["joints2d"]).shape == (21, 2) and np.asarray(p["joints3d"]).shape == (21, 3)
        assert 1 <= p["loops"] <= 3 and p["gflops"] > 0 and p["handedness"] == "right"

    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "x.png").write_bytes(b"nope")
    status, err = _predict(["--input-dir", only_bad, "--out", tmp_path / "none.json", "--weights", checkpoint],
                           capsys)
    assert status == 1 and "could be read" in err and not (tmp_path / "none.json").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    status, err = _predict(["--input-dir", empty, "--out", tmp_path / "e.json", "--weights", checkpoint], capsys)
    assert status == 2 and "no images" in err


def test_reframe_runs_again_on_the_trained_box_and_maps_back(estimator):
    crops = [_image(20 + i, 160, 200) for i in range(4)]
    first = estimator.estimate(crops, "right", exit_mode="none", max_loops=2)
    poses = estimator.estimate(crops, "right", exit_mode="none", max_loops=2, reframe=True)
    for crop, once, pose in zip(crops, first, poses):
        box = reframe_box(once.joints2d, *crop.shape[:2])
        assert pose.reframed == (box is not None)
        if box is None:
            assert np.array_equal(pose.joints2d, once.joints2d) and pose.gflops == once.gflops
            continue
        # Same as running on that box's crop by hand, with the joints mapped back to this crop.
        matrix = crop_matrix(box, RES)
        alone = estimator.estimate([warp(crop, matrix, RES)], "right", exit_mode="none", max_loops=2)[0]
        assert np.allclose(pose.joints2d, transform_points(alone.joints2d, invert_affine(matrix)), atol=0.05)
        assert np.allclose(pose.joints3d, alone.joints3d, atol=1e-3)
        assert pose.gflops == pytest.approx(2 * estimator.stage_flops.gflops(2))


def test_reframe_recovers_a_loosely_cropped_real_hand():
    """Shipped weights on the shared clip, cut three times wider than training crops: the second
    pass around the first estimate must land closer to MediaPipe's landmarks than the first."""
    root = shared_path("data", "asl_video")
    reference = json.loads((root / "asl_hand.full.json").read_text())
    capture = cv2.VideoCapture(str(root / "asl_hand.25fps.mp4"))
    crops, truth = [], []
    for index in range(0, 60, 10):
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = capture.read()
        assert ok
        joints = np.asarray(reference[index])[:, :2]
        matrix = crop_matrix(box_from_points(joints, 3 * DEFAULT_MARGIN), 256)
        crops.append(cv2.cvtColor(warp(frame, matrix, 256), cv2.COLOR_BGR2RGB))
        truth.append(transform_points(joints, matrix))
    capture.release()
    estimator = Estimator.from_pretrained()

    def error(poses):
        return np.mean([np.linalg.norm(p.joints2d - t, axis=1).mean() for p, t in zip(poses, truth)])

    once = estimator.estimate(crops, "right")
    twice = estimator.estimate(crops, "right", reframe=True)
    assert all(p.reframed for p in twice)
    assert error(twice) < 0.8 * error(once)


def _copy_checkpoint(checkpoint: Path, folder: Path, edit) -> Path:
    """The checkpoint with its JSON edited by `edit(meta)`, as a user's hand-edited file."""
    folder.mkdir()
    (folder / "w.safetensors").write_bytes(checkpoint.read_bytes())
    meta = json.loads(checkpoint.with_suffix(".json").read_text())
    edit(meta)
    (folder / "w.json").write_text(json.dumps(meta))
    return folder / "w.safetensors"


@pytest.mark.parametrize("edit, message", [
    (lambda m: m.pop("config"), "'config' must be a JSON object, got 'nothing'"),
    (lambda m: m["config"].update(base_channels="sixteen"),
     "DIRNetConfig field 'base_channels' must be int, got 'sixteen'"),
    (lambda m: m["config"].update(input_res=True), "DIRNetConfig field 'input_res' must be int, got True"),
    (lambda m: m["defaults"].update(speed=2), "unknown defaults field(s) ['speed']"),
    (lambda m: m["defaults"].update(tau_var="low"), "defaults field 'tau_var' must be float, got 'low'"),
])
def test_broken_weights_configs_are_refused_naming_the_field(checkpoint, tmp_path, edit, message):
    weights = _copy_checkpoint(checkpoint, tmp_path / "w", edit)
    with pytest.raises(ValueError) as caught:
        Estimator.from_pretrained(weights)
    assert str(caught.value).startswith(f"{weights.with_suffix('.json')}: {message}")


def test_the_app_names_the_broken_field_and_goes_on_with_the_default_weights(checkpoint, tmp_path):
    from app.model import load_estimator

    weights = _copy_checkpoint(checkpoint, tmp_path / "w", lambda m: m["config"].update(fc_dim=2.5))
    estimator, messages = load_estimator(weights)
    assert estimator is not None and messages[0] == (
        f"cannot load weights {weights}: {weights.with_suffix('.json')}: DIRNetConfig field 'fc_dim' "
        "must be int, got 2.5; using the default weights")


def test_predict_skips_truncated_jpegs_and_names_an_unwritable_out(checkpoint, tmp_path, capsys):
    folder = tmp_path / "crops"
    folder.mkdir()
    whole = cv2.imencode(".jpg", _image(3, 100, 100))[1].tobytes()
    (folder / "hand.jpg").write_bytes(whole)
    (folder / "cut.jpg").write_bytes(whole[:len(whole) // 2])
    out = tmp_path / "preds.json"
    status, err = _predict(["--input-dir", folder, "--out", out, "--weights", checkpoint], capsys)
    assert status == 0 and "warning: cut.jpg: truncated JPEG, skipped" in err, err
    assert list(json.loads(out.read_text())) == ["hand.jpg"]
    blocked = tmp_path / "a-file"
    blocked.write_text("")  # a file where the output's folder should be: it cannot be written
    status, err = _predict(["--input-dir", folder, "--out", blocked / "preds.json", "--weights", checkpoint],
                           capsys)
    assert status == 1 and err.splitlines()[-1] == f"error: cannot write {blocked}/preds.json: File exists"
