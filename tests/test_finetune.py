"""dirnet.finetune end to end on a tiny real video: labels, time split, a few steps, the gate, files
and provenance; and the one-line refusals."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dirnet.estimator import DEFAULT_WEIGHTS, Estimator
from dirnet.finetune import CHECKPOINT_NAME, FinetuneConfig, finetune
from dirnet.finetune.__main__ import main
from dirnet.finetune.anchor import make_anchor
from dirnet.finetune.blend import BLEND_GRID, blend_state, choose_blend, mean_state
from dirnet.finetune.data import time_split
from dirnet.finetune.run import freeze_all_but
from dirnet.models.dirnet import dirnet_fpha
from dirnet.weights import load_checkpoint
from tests.conftest import TINY_RES, shared_path, tiny_model

FRAMES = 40  # of the ASL clip: a real hand in every frame


def _write_video(path, frames, fps=25.0):
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def hand_video(tmp_path_factory):
    """The first FRAMES frames of the ASL clip, written as a new, smaller video."""
    capture = cv2.VideoCapture(str(shared_path("data", "asl_video", "asl_hand.25fps.mp4")))
    frames = []
    while len(frames) < FRAMES:
        ok, bgr = capture.read()
        assert ok
        frames.append(cv2.resize(bgr, (bgr.shape[1] // 2, bgr.shape[0] // 2)))
    capture.release()
    return _write_video(tmp_path_factory.mktemp("video") / "hand.mp4", frames)


def test_time_split_holds_out_the_end_of_the_input_after_a_gap():
    records = [{"source": f"/p/frame_{i}.jpg", "frame": None} for i in range(100)]
    records.reverse()  # the teacher's name order: frame_10 before frame_9
    train, val = time_split(records, 0.2)
    assert [r["source"] for r in val] == [f"/p/frame_{i}.jpg" for i in range(80, 100)]
    assert [r["source"] for r in train] == [f"/p/frame_{i}.jpg" for i in range(78)]  # 2 frames of gap


@pytest.mark.timeout(900)  # ~15 s of CPU; a machine busy with training gives it a small share
def test_blend_is_the_straight_line_between_the_two_weights():
    start = {"w": torch.zeros(3), "steps": torch.tensor(4)}
    tuned = {"w": torch.tensor([1.0, 2.0, -4.0]), "steps": torch.tensor(9)}
    mixed = blend_state(start, tuned, 0.25)
    assert torch.allclose(mixed["w"], torch.tensor([0.25, 0.5, -1.0])) and mixed["steps"].item() == 9
    assert torch.equal(blend_state(start, tuned, 1.0)["w"], tuned["w"])
    with pytest.raises(ValueError):
        blend_state(start, {"w": tuned["w"]}, 0.5)


def test_the_mean_of_several_weights_averages_floats_and_keeps_the_last_counters():
    states = [{"w": torch.tensor([float(i), -2.0 * i]), "steps": torch.tensor(i)} for i in (1, 2, 6)]
    mean = mean_state(states)
    assert torch.allclose(mean["w"], torch.tensor([3.0, -6.0])) and mean["steps"].item() == 6
    with pytest.raises(ValueError):
        mean_state([states[0], {"w": states[1]["w"]}])
    with pytest.raises(ValueError):
        mean_state([])


def test_the_chosen_blend_is_the_smallest_that_keeps_the_share_of_the_gain():
    errors = {0.0: 20.0, 0.5: 12.7, 0.7: 12.4, 1.0: 12.0}  # best gain 8 px
    assert choose_blend(errors, 0.9) == 0.5  # 12.7 <= 20 - 7.2
    assert choose_blend(errors, 0.95) == 0.7  # 12.4 <= 20 - 7.6 < 12.7
    assert choose_blend(errors, 1.0) == 1.0
    assert choose_blend({0.0: 10.0, 0.5: 10.5, 1.0: 11.0}, 0.9) == 0.0  # no gain: the starting weights
    with pytest.raises(ValueError):
        choose_blend({0.5: 1.0}, 0.9)


def test_the_anchor_pulls_a_model_back_to_its_own_starting_outputs():
    model = tiny_model(seed=3)
    anchor = make_anchor(model, slice(2, None), weight=1.0)  # rows 2-3 play the renders
    images = torch.rand(4, 3, TINY_RES, TINY_RES, generator=torch.Generator().manual_seed(0))
    assert anchor(images, model(images, 2)).item() < 1e-9  # the model is its own copy: nothing to pull
    with torch.no_grad():  # the fine-tune moves the model; the anchor's copy must stay where it was
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(15):
        loss = anchor(images, model(images, 2))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[0] > 0.05 and losses[-1] < 0.5 * losses[0]


def test_the_anchor_keeps_2d_only_on_the_render_rows():
    model = tiny_model(seed=4)
    images = torch.rand(4, 3, TINY_RES, TINY_RES, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        shifted = [o.apply(lambda t: t) for o in model(images, 1)]
        for o in shifted:  # the user's rows (0-1) moved in 2D only: not the anchor's business
            o.joints2d[:2] += 10.0
        assert make_anchor(model, slice(2, None), 1.0)(images, shifted).item() < 1e-9
        for o in shifted:  # their 3D moved: it is
            o.joints3d[:2, 1:] += 5.0
        assert make_anchor(model, slice(2, None), 1.0)(images, shifted).item() > 0.1


@pytest.mark.parametrize("adapt, parts", [
    ("early", {"stem", "fe_stages"}),
    ("features", {"stem", "fe_stages", "rf_stages", "feedback", "readout"}),
    ("all", {"stem", "fe_stages", "rf_stages", "feedback", "readout", "pose_head", "var_head"}),
])
def test_adapt_chooses_the_parts_that_learn(adapt, parts):
    model = dirnet_fpha(head="spatial")
    freeze_all_but(model, adapt)
    learning = {name.split(".")[0] for name, p in model.named_parameters() if p.requires_grad}
    assert learning == parts  # the gate never: it is refitted after the fine-tune
    with pytest.raises(ValueError, match="adapt"):
        FinetuneConfig(inputs=(), out=Path("x"), adapt="heads")


def test_a_few_steps_write_weights_with_their_provenance(hand_video, tmp_path):
    out = tmp_path / "mine"
    cfg = FinetuneConfig(inputs=(hand_video,), out=out, minutes=10.0, max_steps=8, batch_size=6,
                         synth_share=0.34, lr=1e-3, warmup_steps=2, min_frames=20, synth_checks=4,
                         checks=(), threads=1)
    reports = []
    result = finetune(cfg, reports.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary folder left
    assert sorted(p.name for p in out.iterdir()) == [f"{CHECKPOINT_NAME}.json", f"{CHECKPOINT_NAME}.safetensors"]
    assert result.steps == 8 and result.samples == 48

    model, meta = load_checkpoint(out)  # the folder is a checkpoint for every dirnet tool
    tune = meta["finetune"]
    assert tune["inputs"] == [str(hand_video.resolve())] and tune["steps"] == 8
    assert tune["synthetic_samples"] == 8 * 2 and tune["frames"]["frames"] >= 20
    assert tune["frames"]["val"] == round(tune["frames"]["hands"] * cfg.val_fraction)
    scores = tune["validation"]
    assert set(scores["before"]) == set(scores["after"]) == {"fine-tune frames", "held-out slice", "synthetic"}
    # it learns the frames it was given: their error (scored without augmentation) falls in 8 steps;
    # the training loss itself swings too much with 6 augmented crops and renders a step to compare
    assert scores["after"]["fine-tune frames"]["err2d"] < scores["before"]["fine-tune frames"]["err2d"]
    assert set(tune["loss"]) == {"first", "last"} and all(np.isfinite(list(tune["loss"].values())))
    # the blend tried every alpha on the held-out slice, kept the rule's choice, and is what was scored
    blend = tune["blend"]
    errors = {float(a): e for a, e in blend["held_out_err2d"].items()}
    assert sorted(errors) == list(BLEND_GRID) and blend["chosen_by"] == "held-out slice"
    assert blend["alpha"] == result.blend == choose_blend(errors, cfg.keep_gain) > 0.0
    assert errors[0.0] == pytest.approx(scores["before"]["held-out slice"]["err2d"], abs=1e-3)
    assert errors[blend["alpha"]] == pytest.approx(scores["after"]["held-out slice"]["err2d"], abs=1e-3)
    gate = meta["gate_training"]  # a retrained gate or the base model's, whichever did better held out
    assert meta["defaults"]["exit_mode"] == "gate" and gate["results"][0]["lambda"] is None
    assert max(r["margin"] for r in gate["results"]) == next(
        r["margin"] for r in gate["results"] if r["lambda"] == gate["lambda"])
    assert gate["kept_base_gate"] == (gate["lambda"] is None)
    assert {"kind": "teacher", "path": str(hand_video.resolve()), "poses": ""} in meta["training"]["trained_on"]
    assert json.loads((out / f"{CHECKPOINT_NAME}.json").read_text())["format"] == meta["format"]
    # only the features learnt: the heads (the pose prior) are the base model's, the backbone is not
    base = load_checkpoint(DEFAULT_WEIGHTS)[0].state_dict()
    tuned = model.state_dict()
    for name in (n for n in base if n.startswith(("pose_head.", "var_head."))):
        assert torch.equal(tuned[name], base[name]), name
    assert not torch.equal(tuned["stem.conv.weight"], base["stem.conv.weight"])
    phases = [r.phase for r in reports]
    assert phases.index("label") < phases.index("train") < phases.index("gate")
    assert reports[-1].fraction == 1.0 and all(0.0 <= r.fraction <= 1.0 for r in reports)

    pose = Estimator.from_pretrained(out).estimate([np.zeros((128, 128, 3), np.uint8)], ["right"])[0]
    assert pose.joints2d.shape == (21, 2) and np.isfinite(pose.joints3d).all()


def test_an_input_without_enough_hands_is_refused_with_one_line(tmp_path, capsys):
    blank = _write_video(tmp_path / "wall.mp4", [np.full((120, 160, 3), 90, np.uint8)] * 12)
    empty = tmp_path / "empty"
    empty.mkdir()
    for source, reason, status in ((blank, "only 0 frames with a confident hand", 1),
                                   (empty, "no images in folder", 2)):
        assert main([str(source), "--out", str(tmp_path / "out"), "--no-checks"]) == status
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and reason in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "wall.mp4"]  # nothing written
