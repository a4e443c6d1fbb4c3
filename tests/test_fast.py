"""FastDIRNet (folded BatchNorms, ONNX Runtime / torch backends) against the eager DIRNet."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dirnet.config import DIRNetConfig
from dirnet.estimator import Estimator
from dirnet.exit_policy import ExitPolicy
from dirnet.exits import exit_loops, mean_variance, run_with_exits
from dirnet.geometry import weak_perspective
from dirnet.hand import create_hand_model
from dirnet.models.dirnet import DIRNet
from dirnet.models.staged import with_joints
from dirnet.runtime import BACKENDS, FastDIRNet, cache_key, fold_conv_bn, images_to_tensor
from dirnet.runtime.stages import HEAD_OUTPUTS, JOINTS_OUTPUTS
from tests.conftest import assert_rel_close, randomize

RES = 128
BATCH = 6


def _midpoint_of_widest_gap(values: torch.Tensor) -> float:
    """A threshold between two well-separated values, so float rounding cannot flip a decision."""
    ordered = values.sort().values
    i = int((ordered[1:] - ordered[:-1]).argmax())
    return float(ordered[i] + ordered[i + 1]) / 2


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    # Different contrast per sample spreads their features, hence their variances and gate logits.
    g = torch.Generator().manual_seed(1)
    return torch.rand(BATCH, 3, RES, RES, generator=g) * torch.linspace(0.2, 1.0, BATCH).view(-1, 1, 1, 1)


@pytest.fixture(scope="module")
def model(images) -> DIRNet:
    hand = create_hand_model("open")
    cfg = DIRNetConfig.from_preset("fpha", input_res=RES, num_shape=hand.num_shape)
    model = randomize(DIRNet(cfg, hand))
    with torch.no_grad():
        logits = model.forward_head(model.forward_refine(model.forward_features(images), 0)).gate_logits
        # Centre the EXIT-minus-CONTINUE logit so part of the batch exits after loop 0.
        model.gate.mlp[2].bias[0] -= _midpoint_of_widest_gap(logits[:, 0] - logits[:, 1])
    return model


@pytest.fixture(scope="module")
def fast(model) -> dict[str, FastDIRNet]:
    return {backend: FastDIRNet(model, backend=backend) for backend in BACKENDS}


def test_fold_conv_bn_matches_conv_then_batchnorm():
    g = torch.Generator().manual_seed(2)
    conv = torch.nn.Conv2d(8, 16, 3, 2, 1, bias=False)
    bn = torch.nn.BatchNorm2d(16).eval()
    with torch.no_grad():
        bn.running_mean.uniform_(-1, 1, generator=g)
        bn.running_var.uniform_(0.1, 3, generator=g)
        bn.weight.uniform_(-2, 2, generator=g)
        bn.bias.uniform_(-1, 1, generator=g)
        x = torch.randn(2, 8, 20, 20, generator=g)
        assert_rel_close(fold_conv_bn(conv, bn)(x), bn(conv(x)), 1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@torch.no_grad()
def test_every_stage_and_loop_matches_eager(model, fast, images, backend):
    engine = fast[backend]
    features = model.forward_features(images)
    assert_rel_close(engine.forward_features(images), features)
    attention = None
    for loop in range(model.cfg.max_loops):
        refined = model.forward_refine(features, loop, attention)
        assert_rel_close(engine.forward_refine(features, loop, attention), refined)
        want, got = model.forward_head(refined), engine.forward_head(refined)
        for name in HEAD_OUTPUTS:
            assert_rel_close(getattr(got, name), getattr(want, name))
        # The hand model's joints and mesh are stages of their own, run after the exit loop.
        assert got.joints3d is None and got.skinning is None and got.vertices is None
        (want,), (got,) = with_joints(model, [want]), with_joints(engine, [got])
        for name in JOINTS_OUTPUTS:
            assert_rel_close(getattr(got, name), getattr(want, name))
        assert_rel_close(engine.forward_mesh(got), model.forward_mesh(want))
        attention = model.attention(refined)
        assert_rel_close(engine.attention(refined), attention)


def _thresholds(model: DIRNet, images: torch.Tensor) -> dict[str, ExitPolicy]:
    """Policies under which the eager model's samples exit at different loops."""
    with torch.no_grad():
        var0 = mean_variance(model.forward_head(model.forward_refine(model.forward_features(images), 0)))
    tau_var = _midpoint_of_widest_gap(var0)
    return {"none": ExitPolicy("none", max_loops=3),
            "variance": ExitPolicy("variance", tau_var=tau_var),
            "gate": ExitPolicy("gate", tau_gate=1.0)}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["none", "variance", "gate"])
def test_exits_match_eager(model, fast, images, backend, mode):
    policy = _thresholds(model, images)[mode]
    want = run_with_exits(model, images, policy)
    got = run_with_exits(fast[backend], images, policy)
    assert torch.equal(got.loops, want.loops)
    if mode != "none":
        assert len(set(want.loops.tolist())) > 1, "the policy should split the batch"
    for name in HEAD_OUTPUTS + JOINTS_OUTPUTS + ("vertices",):
        assert_rel_close(getattr(got.final, name), getattr(want.final, name))
    for name in ("joints2d", "joints3d", "alpha2d", "alpha3d", "exit_prob"):
        a, b = getattr(got, name), getattr(want, name)
        assert torch.equal(a.isnan(), b.isnan())
        assert_rel_close(a.nan_to_num(), b.nan_to_num())


@pytest.mark.parametrize("runner", ("eager",) + BACKENDS)
@pytest.mark.parametrize("mode", ["none", "variance", "gate"])
@torch.no_grad()
def test_joints_posed_after_the_loop_match_posing_every_loop(model, fast, images, runner, mode):
    """run_with_exits poses the joints of every loop run in one call after the exit loop; the
    reference poses each loop's hand on its own as it runs (joints and mesh, the hand model's full
    forward), for the whole batch, and replays the exits (exit_loops)."""
    policy = _thresholds(model, images)[mode]
    got = run_with_exits(model if runner == "eager" else fast[runner], images, policy)
    features, attention, reference = model.forward_features(images), None, []
    for loop in range(min(policy.max_loops, model.cfg.max_loops)):
        refined = model.forward_refine(features, loop, attention)
        head = model.forward_head(refined)
        hand = model.hand(head.rotation, head.pose, head.shape)
        reference.append((head, weak_perspective(hand.joints, head.scale, head.trans), hand))
        attention = model.attention(refined)
    loops = exit_loops(policy, torch.stack([mean_variance(h) for h, _, _ in reference]).numpy(),
                       torch.stack([h.gate_logits for h, _, _ in reference]).numpy())
    assert got.loops.tolist() == loops.tolist()
    assert got.joints2d.shape[0] == loops.max()
    for i, n in enumerate(loops.tolist()):
        for loop, (head, joints2d, hand) in enumerate(reference[:n]):
            assert_rel_close(got.joints2d[loop, i], joints2d[i])
            assert_rel_close(got.joints3d[loop, i], hand.joints[i])
            assert_rel_close(got.alpha2d[loop, i], head.alpha2d[i])
            assert_rel_close(got.alpha3d[loop, i], head.alpha3d[i])
        assert got.joints2d[n:, i].isnan().all() and got.joints3d[n:, i].isnan().all()
        head, joints2d, hand = reference[n - 1]
        assert_rel_close(got.final.joints2d[i], joints2d[i])
        assert_rel_close(got.final.joints3d[i], hand.joints[i])
        assert_rel_close(got.final.vertices[i], hand.vertices[i])
        assert_rel_close(got.final.alpha3d[i], head.alpha3d[i])


def test_run_accepts_uint8_crops(model, fast):
    crops = np.random.default_rng(3).integers(0, 256, (2, RES, RES, 3), dtype=np.uint8)
    tensor = images_to_tensor(crops)
    assert_rel_close(tensor, torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0, 1e-6)
    policy = ExitPolicy("none", max_loops=2)
    want = run_with_exits(model, tensor, policy)
    got = fast["onnxruntime"].run(crops, policy)
    assert_rel_close(got.final.joints3d, want.final.joints3d)
    with pytest.raises(ValueError, match="uint8"):
        fast["onnxruntime"].run(crops.astype(np.float32), policy)
    with pytest.raises(ValueError, match="128x128"):
        fast["onnxruntime"].run(crops[:, :64, :64], policy)


def test_estimator_on_the_fast_path_matches_eager(model):
    crops = [np.random.default_rng(4).integers(0, 256, (90, 70, 3), dtype=np.uint8)] * 2
    eager = Estimator(model, is_trained=False).estimate(crops, ["right", "left"], exit_mode="none")
    estimator = Estimator(model, is_trained=False, backend="onnxruntime")
    assert estimator.backend == "onnxruntime" and isinstance(estimator.runner, FastDIRNet)
    assert estimator.model is model  # the DIRNet stays what it was; only the runner is new
    fast = estimator.estimate(crops, ["right", "left"], exit_mode="none")
    for a, b in zip(fast, eager):
        assert a.loops == b.loops and a.gflops == b.gflops
        for name in ("joints2d", "joints3d", "vertices", "var2d", "var3d"):
            assert_rel_close(torch.from_numpy(getattr(a, name)), torch.from_numpy(getattr(b, name)))


def test_bad_arguments(model):
    with pytest.raises(ValueError, match="backend"):
        FastDIRNet(model, backend="tensorrt")
    with pytest.raises(ValueError, match="backend"):
        Estimator(model, backend="tensorrt")
    with pytest.raises(ValueError, match="threads"):
        FastDIRNet(model, threads=0)


def test_building_leaves_the_model_untouched(model):
    model.train()
    try:
        before = {k: v.clone() for k, v in model.state_dict().items()}
        FastDIRNet(model, backend="torch")
        assert model.training
        assert model.stem.conv.weight.is_contiguous()  # not converted to channels-last
        for key, value in model.state_dict().items():
            assert torch.equal(value, before[key]), key
    finally:
        model.eval()


def test_cached_graphs_are_reused_for_the_same_weights_and_rebuilt_for_new_ones(model, images, tmp_path):
    first = FastDIRNet(model, cache_dir=tmp_path)
    again = FastDIRNet(model, cache_dir=tmp_path)
    assert not first.from_cache and again.from_cache
    policy = ExitPolicy(exit_mode="none", max_loops=model.cfg.max_loops)
    want = run_with_exits(first, images, policy)
    assert_rel_close(run_with_exits(again, images, policy).joints3d, want.joints3d, 1e-6)
    changed = randomize(DIRNet(model.cfg, model.hand), seed=5)  # same shapes, other weights
    other = FastDIRNet(changed, cache_dir=tmp_path)
    assert not other.from_cache  # a stale graph would silently give the old weights' poses
    assert_rel_close(run_with_exits(other, images, policy).joints3d,
                     run_with_exits(changed, images, policy).joints3d)
    assert len(list(tmp_path.glob("stages-*.npz"))) == 2
    (tmp_path / f"stages-{cache_key(model)[:24]}.npz").write_bytes(b"truncated")
    rebuilt = FastDIRNet(model, cache_dir=tmp_path)  # a damaged entry is rebuilt, not trusted
    assert not rebuilt.from_cache
    assert_rel_close(run_with_exits(rebuilt, images, policy).joints3d, want.joints3d, 1e-6)


def test_cache_key_follows_the_code_that_makes_the_graphs(model, tmp_path, monkeypatch):
    """Graphs cached before a change to the stages' code (e.g. the head without the mesh and the
    mesh stage) must not be reused by the new code."""
    import dirnet.runtime.cache as cache

    before = cache_key(model)
    lbs = next(p for p in cache._CODE_FILES if p.name == "lbs.py")  # the mesh stage's skinning
    edited = tmp_path / "lbs.py"
    edited.write_bytes(lbs.read_bytes() + b"\n# edited\n")
    monkeypatch.setattr(cache, "_CODE_FILES", [edited if p == lbs else p for p in cache._CODE_FILES])
    assert cache_key(model) != before
