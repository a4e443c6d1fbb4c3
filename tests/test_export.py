"""ONNX export of every stage: ONNX Runtime against the eager PyTorch DIRNet, and the CLI."""
from __future__ import annotations

import json

import onnxruntime as ort
import pytest
import torch

from dirnet.config import DIRNetConfig
from dirnet.export import MANIFEST_FORMAT, export_onnx, main
from dirnet.hand import create_hand_model
from dirnet.models.dirnet import DIRNet
from dirnet.runtime.stages import HEAD_OUTPUTS, JOINTS_INPUTS, JOINTS_OUTPUTS
from dirnet.weights import save_checkpoint
from tests.conftest import assert_rel_close, randomize

RES = 128


@pytest.fixture(scope="module")
def model() -> DIRNet:
    hand = create_hand_model("open")
    cfg = DIRNetConfig.from_preset("fpha", input_res=RES, num_shape=hand.num_shape)
    return randomize(DIRNet(cfg, hand), seed=5)


@pytest.fixture(scope="module")
def exported(model, tmp_path_factory):
    out = tmp_path_factory.mktemp("onnx")
    return out, export_onnx(model, out)


def _run(path, **feeds: torch.Tensor) -> list[torch.Tensor]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [torch.from_numpy(a) for a in session.run(None, {k: v.numpy() for k, v in feeds.items()})]


def test_manifest_lists_every_stage(model, exported):
    out, manifest = exported
    loops = model.cfg.max_loops
    names = ["features"] + [f"refine_{l}" for l in range(loops)] + ["attention", "head", "joints", "mesh"]
    assert list(manifest["stages"]) == names
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["format"] == MANIFEST_FORMAT and on_disk["config"] == model.cfg.to_dict()
    assert [o["name"] for o in on_disk["stages"]["head"]["outputs"]] == list(HEAD_OUTPUTS)
    assert [o["name"] for o in on_disk["stages"]["joints"]["inputs"]] == list(JOINTS_INPUTS)
    assert [o["name"] for o in on_disk["stages"]["joints"]["outputs"]] == list(JOINTS_OUTPUTS)
    assert on_disk["stages"]["refine_1"]["inputs"][0]["shape"] == ["batch", 32, RES // 8, RES // 8]
    for stage in on_disk["stages"].values():
        assert (out / stage["file"]).is_file()
        assert stage["max_rel_error_vs_torch"] <= 1e-4


@torch.no_grad()
def test_onnx_stages_match_eager_model(model, exported):
    """Each file against the unfolded DIRNet's own stage, batch 3 (the batch axis is dynamic)."""
    out, _ = exported
    images = torch.rand(3, 3, RES, RES, generator=torch.Generator().manual_seed(6))
    features = model.forward_features(images)
    (got,) = _run(out / "features.onnx", images=images)
    assert_rel_close(got, features)
    attention = None
    for loop in range(model.cfg.max_loops):
        refined = model.forward_refine(features, loop, attention)
        feeds = {"features": features} if attention is None else {"features": features, "attention": attention}
        (got,) = _run(out / f"refine_{loop}.onnx", **feeds)
        assert_rel_close(got, refined)
        head = model.forward_head(refined)
        for name, value in zip(HEAD_OUTPUTS, _run(out / "head.onnx", refined=refined)):
            assert_rel_close(value, getattr(head, name))
        posed = model.forward_joints(head)
        joints = _run(out / "joints.onnx", **{name: getattr(head, name) for name in JOINTS_INPUTS})
        for name, value in zip(JOINTS_OUTPUTS, joints):
            assert_rel_close(value, posed[name])
        (got,) = _run(out / "mesh.onnx", skinning=posed["skinning"], shape=head.shape)
        assert_rel_close(got, model.hand.skin(posed["skinning"], head.shape))
        attention = model.attention(refined)
        (got,) = _run(out / "attention.onnx", refined=refined)
        assert_rel_close(got, attention)


def test_cli_exports_a_checkpoint(model, tmp_path, capsys):
    save_checkpoint(model, tmp_path / "ckpt", {"defaults": {"exit_mode": "variance"}})
    assert main(["--out", str(tmp_path / "out"), "--weights", str(tmp_path / "ckpt")]) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["trained"] is True and manifest["defaults"]["exit_mode"] == "variance"
    assert "wrote 9 graphs" in capsys.readouterr().err
    assert not list((tmp_path / "out").glob(".*tmp*"))


def test_cli_reports_missing_weights_in_one_line(tmp_path, capsys):
    assert main(["--out", str(tmp_path / "out"), "--weights", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "not found" in err and "\n" not in err
    assert not (tmp_path / "out").exists()
