"""DIRNet, exits, losses and FLOP accounting with the real open hand model (small inputs, fixed seed)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from dirnet.config import DIRNetConfig
from dirnet.exit_policy import ExitPolicy
from dirnet.exits import run_with_exits
from dirnet.flops import count_stage_flops
from dirnet.hand import create_hand_model
from dirnet.training.losses import LossTargets, total_loss
from dirnet.models.dirnet import DIRNet
from dirnet.models.staged import with_mesh

RES = 64


@pytest.fixture(scope="module")
def hand():
    return create_hand_model("open")


def _model(hand, **overrides) -> DIRNet:
    torch.manual_seed(0)
    cfg = DIRNetConfig.from_preset("fpha", input_res=RES, num_shape=hand.num_shape, **overrides)
    return DIRNet(cfg, hand)


def _randomise_heads(model: DIRNet) -> None:
    """Untrained heads predict nearly the same for every image; spread them so exits differ."""
    torch.manual_seed(1)
    for layer in (model.var_head.var2, model.gate.mlp[2]):
        torch.nn.init.normal_(layer.weight, std=0.5)


def test_forward_shapes_dtypes_and_finite(hand):
    model = _model(hand).eval()
    outputs = model(torch.rand(3, 3, RES, RES))
    assert len(outputs) == model.cfg.max_loops
    for out in outputs:
        assert out.joints2d.shape == (3, 21, 2) and out.joints3d.shape == (3, 21, 3)
        assert out.alpha2d.shape == (3, 21, 2) and out.alpha3d.shape == (3, 21, 3)
        assert out.vertices is None  # every loop's mesh is made only on request
        vertices = with_mesh(model, out).vertices
        assert vertices.shape == (3, hand.v_template.shape[0], 3)
        assert out.gate_logits.shape == (3, 2)
        assert out.joints3d.dtype == torch.float32
        for value in (*(v for v in vars(out).values() if v is not None), vertices):
            assert torch.isfinite(value).all()
        # Joints are wrist-relative and rotations are proper.
        assert torch.allclose(out.joints3d[:, 0], torch.zeros(3, 3), atol=1e-4)
        det = torch.linalg.det(out.rotation)
        assert torch.allclose(det, torch.ones(3), atol=1e-5)


@pytest.mark.parametrize("loop_point", [1, 2, 3, 4])
def test_every_loop_point_builds_and_attention_matches_features(hand, loop_point):
    model = _model(hand, loop_point=loop_point).eval()
    features = model.forward_features(torch.rand(1, 3, RES, RES))
    refined = model.forward_refine(features, 0)
    attention = model.attention(refined)
    assert attention.shape == features.shape
    assert attention.min() >= 0 and attention.max() <= 1


def test_tau_var_inf_exits_after_first_loop_and_zero_runs_all(hand):
    model = _model(hand).eval()
    images = torch.rand(4, 3, RES, RES)
    first = run_with_exits(model, images, ExitPolicy(exit_mode="variance", tau_var=float("inf")))
    every = run_with_exits(model, images, ExitPolicy(exit_mode="variance", tau_var=0.0))
    assert first.loops.tolist() == [1, 1, 1, 1]
    assert every.loops.tolist() == [model.cfg.max_loops] * 4
    # Traces hold the loops that ran, filled for every sample still running.
    assert first.joints2d.shape[0] == 1 and every.joints2d.shape[0] == model.cfg.max_loops
    assert torch.isfinite(every.joints2d).all()


def test_exits_are_per_sample_and_match_full_forward(hand):
    model = _model(hand).eval()
    _randomise_heads(model)
    images = torch.rand(8, 3, RES, RES)
    full = model(images)
    mean_var = [torch.cat((o.alpha2d.flatten(1), o.alpha3d.flatten(1)), 1).exp().mean(1) for o in full]
    tau = float(mean_var[0].detach().median())
    result = run_with_exits(model, images, ExitPolicy(exit_mode="variance", tau_var=tau))
    assert len(set(result.loops.tolist())) > 1, "samples in one batch should exit at different loops"
    for i, loops in enumerate(result.loops.tolist()):
        # A sample that left the batch gets exactly what the full forward gave at its exit loop,
        # and the mesh the hand model makes from that loop's pose in one call.
        exit_loop = full[loops - 1]
        assert torch.allclose(result.final.joints2d[i], exit_loop.joints2d[i], atol=1e-4)
        mesh = model.hand(exit_loop.rotation, exit_loop.pose, exit_loop.shape)
        torch.testing.assert_close(result.final.vertices[i], mesh.vertices[i], atol=1e-4, rtol=1e-5)
        torch.testing.assert_close(exit_loop.joints3d[i], mesh.joints[i], atol=1e-4, rtol=1e-5)
        if loops < model.cfg.max_loops:
            assert mean_var[loops - 1][i] < tau
        # Its trace holds every loop it ran and NaN after it left.
        for loop in range(result.joints2d.shape[0]):
            if loop < loops:
                assert torch.allclose(result.joints2d[loop, i], full[loop].joints2d[i], atol=1e-4)
            else:
                assert result.joints2d[loop, i].isnan().all() and result.exit_prob[loop, i].isnan()


def test_raising_tau_gate_lowers_mean_loops(hand):
    model = _model(hand).eval()
    _randomise_heads(model)
    images = torch.rand(16, 3, RES, RES)
    with torch.no_grad():
        model.gate.mlp[2].bias.copy_(torch.tensor([-1.0, 1.0]))  # a gate that prefers to continue
    loops = [run_with_exits(model, images, ExitPolicy(exit_mode="gate", tau_gate=t)).loops.float().mean()
             for t in (0.25, 1.0, 4.0, 100.0)]
    assert all(a >= b for a, b in zip(loops, loops[1:])), loops
    assert loops[0] > loops[-1]


def test_sampled_gate_is_reproducible_with_a_generator(hand):
    model = _model(hand).eval()
    images = torch.rand(6, 3, RES, RES)
    policy = ExitPolicy(exit_mode="gate", sample=True)
    a = run_with_exits(model, images, policy, torch.Generator().manual_seed(3)).loops
    b = run_with_exits(model, images, policy, torch.Generator().manual_seed(3)).loops
    assert torch.equal(a, b)


def test_gradients_reach_every_module(hand):
    model = _model(hand).train()
    images = torch.rand(2, 3, RES, RES)
    outputs = model(images)
    target = LossTargets(joints2d=torch.rand(2, 21, 2) * RES, joints3d=torch.randn(2, 21, 3) * 30,
                         has2d=torch.ones(2), has3d=torch.ones(2))
    loss, per_loop = total_loss(outputs, target, RES)
    # The gate learns by REINFORCE (its own objective): add a policy-gradient term for it.
    log_p = torch.log_softmax(torch.stack([o.gate_logits for o in outputs]), -1)[..., 0]
    (loss + log_p.sum()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing}"
    assert set(per_loop[0]) >= {"l2d", "l3d", "var2d", "var3d", "total"}


def test_losses_respect_label_masks(hand):
    model = _model(hand).train()
    outputs = model(torch.rand(2, 3, RES, RES), num_loops=1)
    target = LossTargets(joints2d=torch.zeros(2, 21, 2), joints3d=torch.zeros(2, 21, 3),
                         has2d=torch.tensor([1.0, 0.0]), has3d=torch.zeros(2))
    _, per_loop = total_loss(outputs, target, RES)
    assert per_loop[0]["l3d"] == 0 and per_loop[0]["var3d"] == 0
    moved = LossTargets(joints2d=target.joints2d.clone(), joints3d=target.joints3d,
                        has2d=target.has2d, has3d=target.has3d)
    moved.joints2d[1] += 50  # the unlabelled sample's 2D must not change the loss
    _, per_loop2 = total_loss(outputs, moved, RES)
    assert torch.allclose(per_loop[0]["l2d"], per_loop2[0]["l2d"])


def test_stage_flops_add_up(hand):
    model = _model(hand)
    stage = count_stage_flops(model)
    assert stage.total(1) == stage.fe + stage.rf + stage.head
    assert stage.total(3, gate=True) - stage.total(2, gate=True) == stage.rf + stage.head + stage.gate + stage.feedback


def test_flops_cli_matches_paper_table3_within_15_percent():
    out = subprocess.run([sys.executable, "-m", "dirnet.flops", "--json"], capture_output=True,
                         text=True, check=True, timeout=120)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    paper = {"stb": (1.68e6, {"no_iter": 0.46, "iter_no_amg": 1.06, "iter_amg": 1.51}),
             "fpha": (460e3, {"no_iter": 0.14, "iter_no_amg": 0.30, "iter_amg": 0.45})}
    for preset, (params, gflops) in paper.items():
        assert abs(report[preset]["params"] / params - 1) <= 0.15, (preset, report[preset]["params"])
        for row, value in gflops.items():
            assert abs(report[preset]["gflops"][row] / value - 1) <= 0.15, (preset, row, report[preset]["gflops"][row])
