"""int8 stages (dirnet.runtime.quantize): the shipped weights quantised on real crops of the shared
clip, against fp32 on other frames; the plan file, its cache entries and the precision flag."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from dirnet.config import DIRNetConfig
from dirnet.crop import box_from_points, crop_matrix, transform_points, warp
from dirnet.estimator import DEFAULT_WEIGHTS, Estimator
from dirnet.exit_policy import ExitPolicy
from dirnet.hand import create_hand_model
from dirnet.models.dirnet import DIRNet
from dirnet.predict import main as predict_main
from dirnet.runtime import FastDIRNet, Int8Plan, cached_stage_graphs, images_to_tensor, load_plan, plan_path
from dirnet.runtime.calibrate import StageTiming
from dirnet.runtime.calibrate import main as calibrate_main
from dirnet.runtime.onnx import stage_graphs
from dirnet.runtime.quantize import calibrate, weights_digest
from dirnet.weights import checkpoint_paths, load_checkpoint
from tests.conftest import randomize, shared_path
from tests.test_fast import randomize

STAGES = ("refine", "attention")
CALIBRATION = range(0, 80, 10)  # clip frames the ranges come from
HELD_OUT = range(5, 240, 15)  # frames the int8 outputs are checked on


def clip_crops(frames) -> tuple[np.ndarray, np.ndarray]:
    """(N, 128, 128, 3) uint8 RGB crops of the clip around MediaPipe's landmarks, and those
    landmarks in crop px (N, 21, 2)."""
    root = shared_path("data", "asl_video")
    reference = json.loads((root / "asl_hand.full.json").read_text())
    capture = cv2.VideoCapture(str(root / "asl_hand.25fps.mp4"))
    crops, truth = [], []
    try:
        for index in frames:
            capture.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, frame = capture.read()
            assert ok, f"frame {index}"
            joints = np.asarray(reference[index])[:, :2]
            matrix = crop_matrix(box_from_points(joints), 128)
            crops.append(cv2.cvtColor(warp(frame, matrix, 128), cv2.COLOR_BGR2RGB))
            truth.append(transform_points(joints, matrix))
    finally:
        capture.release()
    return np.stack(crops), np.stack(truth)


@pytest.fixture(scope="module")
def model():
    return load_checkpoint(DEFAULT_WEIGHTS)[0]


@pytest.fixture(scope="module")
def plan(model) -> Int8Plan:
    crops, _ = clip_crops(CALIBRATION)
    ranges = calibrate(stage_graphs(model), images_to_tensor(crops).numpy(), kinds=STAGES)
    return Int8Plan(STAGES, ranges, weights_digest(model))


def _quantized(graph) -> bool:
    return any(n.op_type == "QuantizeLinear" for n in onnx.load_from_string(graph.model).graph.node)


def test_int8_stays_within_a_pixel_of_fp32_on_held_out_real_crops(model, plan, tmp_path):
    graphs, _ = cached_stage_graphs(model, tmp_path, plan)
    assert {g.name for g in graphs if _quantized(g)} == {"refine_0", "refine_1", "refine_2", "refine_3",
                                                         "attention"}
    crops, truth = clip_crops(HELD_OUT)
    policy = ExitPolicy("none", max_loops=model.cfg.max_loops)
    fp32 = FastDIRNet(model).run(crops, policy).final.joints2d.numpy()
    int8 = FastDIRNet(model, cache_dir=tmp_path, plan=plan).run(crops, policy).final.joints2d.numpy()
    moved = np.linalg.norm(int8 - fp32, axis=-1)  # px of the 128 px crop
    assert 0 < moved.mean() < 1.0, moved.mean()
    error = {name: np.linalg.norm(j - truth, axis=-1).mean() for name, j in (("fp32", fp32), ("int8", int8))}
    assert error["int8"] < 1.03 * error["fp32"], error  # against MediaPipe's landmarks


def test_plan_file_round_trips_and_is_refused_for_other_weights(model, plan, tmp_path):
    path = plan.save(tmp_path / "w.int8.json")
    assert Int8Plan.load(path) == plan
    (tmp_path / "bad.int8.json").write_text('{"stages": ["refine"]}')
    with pytest.raises(ValueError, match="not a readable int8 plan"):
        Int8Plan.load(tmp_path / "bad.int8.json")
    with pytest.raises(ValueError, match="unknown int8 stages"):
        Int8Plan(("refine", "stem"), plan.ranges, plan.weights)
    other = randomize(type(model)(model.cfg, model.hand), seed=7)
    with pytest.raises(ValueError, match="other weights"):
        FastDIRNet(other, plan=plan)
    with pytest.raises(ValueError, match="onnxruntime backend"):
        FastDIRNet(model, backend="torch", plan=plan)


def test_int8_graphs_are_cached_beside_the_fp32_ones_and_keyed_by_the_plan(model, plan, tmp_path):
    first, hit = cached_stage_graphs(model, tmp_path, plan)
    again, hit_again = cached_stage_graphs(model, tmp_path, plan)
    assert (hit, hit_again) == (False, True)
    assert [g.model for g in again] == [g.model for g in first]
    assert len(list(tmp_path.glob("stages-*.npz"))) == 2  # the fp32 graphs it started from, and int8
    assert FastDIRNet(model, cache_dir=tmp_path, plan=plan).from_cache
    narrower = {g: {t: (lo / 2, hi / 2) for t, (lo, hi) in r.items()} for g, r in plan.ranges.items()}
    changed, hit_changed = cached_stage_graphs(model, tmp_path, Int8Plan(STAGES, narrower, plan.weights))
    assert not hit_changed and changed[1].model != first[1].model


def _copy_weights(folder: Path) -> Path:
    tensors, meta = checkpoint_paths(DEFAULT_WEIGHTS)
    folder.mkdir(exist_ok=True)
    (folder / "w.safetensors").write_bytes(tensors.read_bytes())
    (folder / "w.json").write_bytes(meta.read_bytes())
    return folder / "w.safetensors"


def test_precision_flag_follows_the_plan_beside_the_weights(model, plan, tmp_path):
    weights, cache = _copy_weights(tmp_path / "w"), tmp_path / "cache"
    with pytest.raises(ValueError, match="no int8 plan"):
        Estimator.from_pretrained(weights, precision="int8", cache_dir=cache)
    assert Estimator.from_pretrained(weights, cache_dir=cache).precision == "fp32"  # auto, no plan
    plan.save(plan_path(weights))
    assert plan_path(weights) == weights.with_name("w.int8.json")
    estimator = Estimator.from_pretrained(weights, cache_dir=cache)
    assert estimator.precision == "int8" and estimator.runner.plan == plan
    assert Estimator.from_pretrained(weights, precision="fp32", cache_dir=cache).precision == "fp32"
    for backend in ("eager", "torch"):
        with pytest.raises(ValueError, match="onnxruntime backend"):
            Estimator.from_pretrained(weights, backend=backend, precision="int8")
    assert Estimator.from_pretrained(weights, backend="eager").precision == "fp32"  # auto: no plan applies
    with pytest.raises(ValueError, match="precision must be one of"):
        Estimator.from_pretrained(weights, precision="bf16")
    stale = Int8Plan(plan.stages, plan.ranges, "0" * 64)  # made for earlier weights
    stale.save(plan_path(weights))
    assert load_plan("auto", weights, model) is None
    with pytest.raises(ValueError, match="other weights"):
        load_plan("int8", weights, model)


def test_predict_cli_reports_a_missing_plan_in_one_line(tmp_path, capsys):
    weights = _copy_weights(tmp_path / "w")
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "hand.png"), np.full((64, 64, 3), 128, np.uint8))
    code = predict_main(["--input-dir", str(tmp_path / "in"), "--out", str(tmp_path / "p.json"),
                         "--weights", str(weights), "--precision", "int8"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: no int8 plan"), err


def test_calibrate_cli_writes_a_plan_the_estimator_uses(tmp_path):
    root = shared_path("data", "asl_video")
    clip = f"video:{root / 'asl_hand.25fps.mp4'}:{root / 'asl_hand.full.json'}:{root / 'asl_hand_3d.full.json'}:right"
    weights = _copy_weights(tmp_path / "w")
    code = calibrate_main(["--weights", str(weights), "--data", clip, "--n", "6", "--check", clip,
                           "--limit", "6", "--reps", "3", "--tolerance", "1.0"])
    assert code == 0
    plan = Int8Plan.load(plan_path(weights))
    timed = {t["stage"]: StageTiming(**t) for t in plan.notes["timing_ms_batch1"]}
    assert set(timed) == {"features", "refine", "attention", "head"}
    faster = {s for s, t in timed.items() if t.gain >= 0.05}
    assert set(plan.stages) == faster  # a 100% tolerance keeps every stage that is faster in int8
    assert set(plan.ranges) == {g.name for g in stage_graphs(load_checkpoint(weights)[0])
                                if g.name.split("_")[0] in plan.stages}
    if plan.stages:
        assert Estimator.from_pretrained(weights, cache_dir=tmp_path / "cache").precision == "int8"


def test_a_spatial_head_quantises_its_readout(tmp_path):
    hand = create_hand_model("open")
    cfg = DIRNetConfig.from_preset("fpha", input_res=128, num_shape=hand.num_shape, head="spatial")
    spatial = randomize(DIRNet(cfg, hand))
    g = torch.Generator().manual_seed(3)
    images = torch.rand(12, 3, 128, 128, generator=g)
    ranges = calibrate(stage_graphs(spatial), images[:8].numpy(), kinds=("head",))
    plan = Int8Plan(("head",), ranges, weights_digest(spatial))
    graphs, _ = cached_stage_graphs(spatial, tmp_path, plan)
    head = next(onnx.load_from_string(g.model).graph for g in graphs if g.name == "head")
    quantised = {n.input[0] for n in head.node if n.op_type == "QuantizeLinear"}
    assert {"/readout/reduce/reduce.1/Relu_output_0", "/readout/Flatten_output_0"} <= quantised
    policy = ExitPolicy("none", max_loops=cfg.max_loops)
    fp32 = FastDIRNet(spatial).run(images[8:], policy).final.joints2d
    int8 = FastDIRNet(spatial, cache_dir=tmp_path, plan=plan).run(images[8:], policy).final.joints2d
    moved = (int8 - fp32).norm(dim=-1).mean()
    spread = (fp32 - fp32.mean(dim=1, keepdim=True)).norm(dim=-1).mean()
    assert 0 < moved < 0.1 * spread, (moved, spread)
