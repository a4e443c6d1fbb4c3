"""The auxiliary heatmap probe: where its soft-argmax puts a joint, that training with it learns
other features, and that a resumed run goes on with the probe it had."""
from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from dirnet.training.__main__ import main
from dirnet.training.heatmap import HeatmapProbe
from tests.test_train import TINY


def test_soft_argmax_reads_the_peak_cell_in_input_pixels():
    probe = HeatmapProbe(channels=2, input_res=64, joints=3)
    with torch.no_grad():
        probe.conv.weight.zero_()
        probe.conv.bias.zero_()
        probe.conv.weight[:, 0] = 200.0  # every joint's heatmap is channel 0, sharpened
    features = torch.zeros(1, 2, 4, 4)
    features[0, 0, 1, 3] = 1.0  # row 1, column 3 of a 4x4 map over a 64 px input: 16 px cells
    np_pos = probe(features)[0]
    assert torch.allclose(np_pos, torch.tensor([[3.5 * 16 - 0.5, 1.5 * 16 - 0.5]] * 3), atol=1e-3)
    flat = probe(torch.zeros(1, 2, 4, 4))[0]  # no peak: the expected position is the centre
    assert torch.allclose(flat, torch.full((3, 2), 31.5), atol=1e-4)


def _run(tmp_path, name, steps, **overrides):
    config = tmp_path / f"{name}.json"
    config.write_text(json.dumps({**TINY, "protocol": "end_to_end", "stage_steps": [steps, 0],
                                  "lr_schedule": "constant", "out_dir": str(tmp_path / name), **overrides}))
    assert main(["--config", str(config)]) == 0
    return load_file(str(tmp_path / name / "final.safetensors"))


def test_training_with_the_probe_learns_other_features_and_resumes_with_it(tmp_path, caplog):
    plain = _run(tmp_path, "plain", 4)
    probed = _run(tmp_path, "probed", 4, heatmap_weight=1.0)
    assert any(not torch.equal(plain[k], probed[k]) for k in plain if k.startswith("fe_stages."))
    assert set(probed) == set(plain)  # the probe stays out of the checkpoint
    assert (tmp_path / "probed" / "last_probe.safetensors").is_file()
    _run(tmp_path, "halves", 2, heatmap_weight=1.0)
    saved = load_file(str(tmp_path / "halves" / "last_probe.safetensors"))
    assert not torch.equal(saved["conv.weight"], load_file(str(tmp_path / "probed" / "last_probe.safetensors"))["conv.weight"])
    # Resumed at step 2 with a zero learning rate: the probe and its optimizer state come back as
    # they were saved (a fresh probe would be a new random layer).
    _run(tmp_path, "halves", 4, heatmap_weight=1.0, lr=0.0)
    assert "resuming" in caplog.text and "optimizer state not restored" not in caplog.text
    again = load_file(str(tmp_path / "halves" / "last_probe.safetensors"))
    assert all(torch.equal(saved[k], again[k]) for k in saved)
