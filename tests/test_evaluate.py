"""dirnet.evaluation: exit replay vs run_with_exits, sources, and the CLI end to end (untrained model)."""
import json
import math
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from dirnet.crop import transform_points
from dirnet.evaluation.sources import EvalSource, open_source, parse_spec
from dirnet.evaluation.__main__ import main
from dirnet.evaluation.replay import collect, fast_model
from dirnet.exit_policy import ExitPolicy
from dirnet.exits import exit_loops, mean_variance, run_with_exits
from dirnet.models import forward_loops
from tests.conftest import TINY_RES as RES
from tests.conftest import shared_path, tiny_model, write_checkpoint, write_synth_set, write_teacher_set


def test_replay_matches_run_with_exits():
    model = tiny_model()
    images = torch.rand(8, 3, RES, RES, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        outputs = forward_loops(model, images)
    mean_var = torch.stack([mean_variance(o) for o in outputs]).numpy()
    logits = torch.stack([o.gate_logits for o in outputs]).numpy()
    tau_var = float(np.median(mean_var[0]))  # half the samples exit after the first loop
    seen = set()
    for policy in (ExitPolicy("none", max_loops=3), ExitPolicy("variance", tau_var=tau_var, max_loops=3),
                   ExitPolicy("gate", tau_gate=1.0, max_loops=3), ExitPolicy("gate", tau_gate=3.0, max_loops=3),
                   ExitPolicy("gate", tau_gate=0.3, max_loops=2)):
        truth = run_with_exits(model, images, policy)
        loops = exit_loops(policy, mean_var, logits)
        np.testing.assert_array_equal(loops, truth.loops.numpy(), err_msg=str(policy))
        replayed = torch.stack([outputs[k - 1].joints3d[i] for i, k in enumerate(loops)])
        torch.testing.assert_close(replayed, truth.final.joints3d, atol=1e-4, rtol=1e-4)
        seen.update(loops.tolist())
    assert seen == {1, 2, 3}, "the policies should exercise every exit loop"
    with pytest.raises(ValueError):
        exit_loops(ExitPolicy("gate", sample=True), mean_var, logits)


def test_parse_spec():
    spec = parse_spec("video:clip.mp4:ref.json:ref3d.json:left")
    assert (spec.kind, spec.ref3d, spec.hand) == ("video", Path("ref3d.json"), "left")
    assert parse_spec("teacher:some/dir:val=0.2").split == "val"
    assert parse_spec("teacher:some/dir:val=0.2").val_fraction == 0.2
    for bad in ("nothing", "bogus:dir", "video:clip.mp4", "teacher:dir:val=2"):
        with pytest.raises(ValueError):
            parse_spec(bad)


def test_left_hands_are_mirrored_in_and_labels_map_back(tmp_path):
    """A dot at a labelled joint lands where to_source^-1 puts it, mirrored for a left hand."""
    image = np.zeros((120, 160, 3), np.uint8)
    joints2d = np.random.default_rng(0).uniform(40, 100, (21, 2))
    x, y = joints2d[8].round().astype(int)
    image[y - 1:y + 2, x - 1:x + 2] = 255

    def items():
        yield image, joints2d, None, True

    batch = next(EvalSource("dot", 1, items, RES).batches(4))
    to_source = batch.to_source[0]
    inverse = np.linalg.inv(np.vstack([to_source, [0, 0, 1]]))[:2]
    cx, cy = inverse[:, :2] @ joints2d[8] + inverse[:, 2]
    bright = np.argwhere(batch.images[0].max(-1) > 60)
    assert np.abs(bright.mean(0) - [cy, cx]).max() < 1.5
    assert inverse[0, 0] < 0, "a left hand is flipped horizontally"
    assert np.isnan(batch.gt3d).all() and batch.left[0]


def test_collect_maps_to_source_pixels(tmp_path):
    model = tiny_model()
    source = open_source(parse_spec(f"teacher:{write_teacher_set(tmp_path / 't', n=5)}"), RES)
    table = collect(model, source, batch_size=2)
    assert table.joints2d.shape == (3, 5, 21, 2) and table.gate_input.shape == (3, 5, 256)
    # Predictions are mapped into the 96 px teacher crops the labels live in, near the hand box.
    assert np.isfinite(table.joints2d).all() and np.abs(table.joints2d).max() < 400
    errors = table.errors()
    assert errors.pa.shape == (3, 5, 21) and np.isfinite(errors.pa).all()
    # Each loop's 2D goes through its sample's crop inverse; left hands' 3D x is mirrored back out.
    batch = next(source.batches(5))
    with torch.no_grad():
        outputs = forward_loops(model, torch.from_numpy(batch.images).permute(0, 3, 1, 2).float() / 255)
    for i in range(5):
        np.testing.assert_allclose(table.joints2d[2, i],
                                   transform_points(outputs[2].joints2d[i].numpy(), batch.to_source[i]),
                                   atol=1e-3)
    raw = outputs[0].joints3d.numpy()
    np.testing.assert_allclose(table.joints3d[0, 1, :, 0], -raw[1, :, 0], atol=1e-4)
    np.testing.assert_allclose(table.joints3d[0, 0, :, 0], raw[0, :, 0], atol=1e-4)


def test_collect_runs_the_forward_it_is_given(tmp_path):
    """Studies swap the forward pass (e.g. test-time augmentation); the table holds what it returns."""
    model = tiny_model()
    source = open_source(parse_spec(f"teacher:{write_teacher_set(tmp_path / 't', n=3)}"), RES)
    table = collect(model, source, forward=lambda m, x: forward_loops(m, x)[1:2])
    assert table.joints2d.shape == (1, 3, 21, 2)
    np.testing.assert_allclose(table.joints2d[0], collect(model, source).joints2d[1], atol=1e-5)


def test_cli_writes_metrics_and_figures(tmp_path, capsys):
    weights = write_checkpoint(tmp_path / "w")
    other = write_checkpoint(tmp_path / "other", seed=1)
    synth = write_synth_set(tmp_path / "synth")
    teacher = write_teacher_set(tmp_path / "teacher")
    out = tmp_path / "out"
    code = main(["--weights", str(weights), "--data", f"synth:{synth}", "--data", "bogus:/nowhere",
                 "--data", f"teacher:{teacher}", "--out", str(out), "--compare", str(other),
                 "--batch-size", "4"])
    assert code == 0
    captured = capsys.readouterr()
    assert "bogus" in captured.err and "Traceback" not in captured.err
    assert "synth_synth [w]" in captured.out and "PA-MPJPE" in captured.out
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["sources"]) == {"synth_synth", "teacher_teacher"}
    report = metrics["sources"]["synth_synth"]
    assert set(report) == {"main", "compare"}
    policies = report["main"]["policies"]
    assert set(policies) == {"loops_1", "loops_2", "loops_3", "none", "variance", "gate"}
    for summary in policies.values():
        for key in ("err2d_px_mean", "mpjpe", "pa_mpjpe", "auc3d_0_50", "mean_loops", "mean_gflops"):
            assert math.isfinite(summary[key]), key
    assert policies["loops_1"]["mean_gflops"] < policies["loops_3"]["mean_gflops"]
    assert len(report["main"]["sweeps"]["gate"]) >= 10 and len(report["main"]["sweeps"]["variance"]) >= 5
    for suffix in ("tradeoff", "loops", "pck"):
        png = out / f"synth_synth_{suffix}.png"
        assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_synth_source_reads_exact_labels(tmp_path):
    root = write_synth_set(tmp_path / "synth", n=4)
    labels = np.load(root / "labels.npz")
    source = open_source(parse_spec(f"synth:{root}"), RES)
    batch = next(source.batches(8))
    assert len(source) == 4 and not source.problems
    np.testing.assert_array_equal(batch.left, labels["is_left"])
    np.testing.assert_allclose(batch.gt2d, labels["joints2d"], atol=1e-4)
    np.testing.assert_allclose(batch.gt3d, labels["joints3d"] - labels["joints3d"][:, :1], atol=1e-3)
    # The crop is cut around the labelled hand: the joints land inside the network input.
    for i in range(4):
        inverse = np.linalg.inv(np.vstack([batch.to_source[i], [0, 0, 1]]))[:2]
        inside = transform_points(batch.gt2d[i], inverse)
        assert inside.min() > -1 and inside.max() < RES


def test_cli_fails_cleanly_on_bad_weights(tmp_path, capsys):
    assert main(["--weights", str(tmp_path / "missing"), "--data", f"teacher:{tmp_path}"]) == 2
    assert "not found" in capsys.readouterr().err


def test_video_source_with_reference(tmp_path):
    """A written clip + per-frame reference: frames are read in order and 3D metres become mm."""
    clip = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 120))
    rng = np.random.default_rng(0)
    for _ in range(4):
        writer.write(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    writer.release()
    ref2d = [rng.uniform(40, 100, (21, 3)).tolist() for _ in range(4)]
    ref2d[2] = []  # a frame without a hand
    ref3d = [(rng.normal(0, 0.04, (21, 3))).tolist() for _ in range(4)]
    (tmp_path / "ref.json").write_text(json.dumps(ref2d))
    (tmp_path / "ref3d.json").write_text(json.dumps(ref3d))
    spec = parse_spec(f"video:{clip}:{tmp_path / 'ref.json'}:{tmp_path / 'ref3d.json'}:right")
    source = open_source(spec, RES)
    assert len(source) == 3
    batches = list(source.batches(2))
    gt2d = np.concatenate([b.gt2d for b in batches])
    gt3d = np.concatenate([b.gt3d for b in batches])
    np.testing.assert_allclose(gt2d[2], np.asarray(ref2d[3])[:, :2])
    np.testing.assert_allclose(gt3d[2], (np.asarray(ref3d[3]) - ref3d[3][0]) * 1000.0)
    assert not any(b.left.any() for b in batches)


def test_real_clip_end_to_end(tmp_path):
    """The shared ASL clip against MediaPipe's landmarks (a few frames, right hand given)."""
    root = shared_path("data", "asl_video")
    weights = write_checkpoint(tmp_path / "w")
    spec = (f"video:{root / 'asl_hand.25fps.mp4'}:{root / 'asl_hand.full.json'}:"
            f"{root / 'asl_hand_3d.full.json'}:right")
    assert main(["--weights", str(weights), "--data", spec, "--out", str(tmp_path), "--limit", "6",
                 "--exit", "gate"]) == 0
    gate = json.loads((tmp_path / "metrics.json").read_text())["sources"]["video_asl_hand.25fps"]["main"]
    summary = gate["policies"]["gate"]
    assert summary["n"] == 6 and summary["n3d"] == 6
    # Untrained, so far off, but in frame px of a 620x1080 clip and a real PA-MPJPE in mm.
    assert 1 < summary["err2d_px_mean"] < 1000 and 1 < summary["pa_mpjpe"] < 200


def test_2d_only_labels_report_nan_3d_and_write_null(tmp_path):
    """A source without 3D labels: 3D metrics are NaN in the report and null in the JSON."""
    from dirnet.evaluation.replay import LoopTable, evaluate_table
    from dirnet.evaluation.report import write_json
    from dirnet.flops import StageFlops

    rng = np.random.default_rng(0)
    loops, n = 3, 5
    gt2d = rng.uniform(0, 100, (n, 21, 2))
    table = LoopTable(joints2d=gt2d[None] + rng.normal(0, 3, (loops, n, 21, 2)),
                      joints3d=rng.normal(0, 30, (loops, n, 21, 3)),
                      mean_var=rng.uniform(1, 10, (loops, n)).astype(np.float32),
                      gate_logits=rng.normal(0, 1, (loops, n, 2)).astype(np.float32),
                      gate_input=np.zeros((loops, n, 8), np.float32),
                      gt2d=gt2d, gt3d=np.full((n, 21, 3), np.nan), crop256=np.ones(n),
                      left=np.zeros(n, bool))
    stage = StageFlops(fe=10, rf=5, head=1, gate=1, feedback=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # all-NaN 3D rows must not spray RuntimeWarnings
        report = evaluate_table("twod", table, stage, ExitPolicy(max_loops=loops, tau_var=5.0))
        write_json(tmp_path / "m.json", report.to_dict())
    gate = report.policies["gate"]
    assert gate.n2d == n and gate.n3d == 0 and np.isnan(gate.mpjpe) and 2 < gate.err2d_px_mean < 6
    written = json.loads((tmp_path / "m.json").read_text())
    assert written["policies"]["gate"]["mpjpe"] is None
    assert written["policies"]["gate"]["err2d_px_mean"] == pytest.approx(gate.err2d_px_mean)



def test_fast_path_gives_the_eager_results(tmp_path):
    """collect() on dirnet.runtime's fast path: same joints, variances, gate and gate features."""
    model = tiny_model()
    runner = fast_model(model)
    source = open_source(parse_spec(f"teacher:{write_teacher_set(tmp_path / 't', n=4)}"), RES)
    eager, fast = (collect(m, source, batch_size=4) for m in (model, runner))
    np.testing.assert_allclose(fast.joints2d, eager.joints2d, atol=1e-3)
    np.testing.assert_allclose(fast.joints3d, eager.joints3d, atol=1e-3)
    np.testing.assert_allclose(fast.mean_var, eager.mean_var, rtol=1e-4)
    np.testing.assert_allclose(fast.gate_logits, eager.gate_logits, atol=1e-4)
    np.testing.assert_allclose(fast.gate_input, eager.gate_input, atol=1e-4)
