"""dirnet.training end to end on tiny runs: Algorithm 1's freezing, checkpoints, resume, torchrun/DDP."""
from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from dirnet.training.__main__ import main

TINY = {
    "model": {"preset": "fpha", "input_res": 64, "max_loops": 2},
    "protocol": "progressive",
    "stage_steps": [4, 3],
    "batch_size": 4,
    "warmup_steps": 1,
    "log_every": 1,
    "ckpt_every": 2,
    "threads": 1,
    "sources": [{"kind": "synth", "weight": 1.0}],
}


def _config(tmp_path, **overrides) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**TINY, "out_dir": str(tmp_path / "run"), **overrides}))
    return str(path)


def _fe(tensors: dict) -> dict:
    return {k: v for k, v in tensors.items() if k.startswith(("stem.", "fe_stages.")) and v.is_floating_point()}


def _assert_algorithm_1(run) -> None:
    """Stage 1 leaves the frozen feature extractor exactly as stage 0 left it, and trains the rest."""
    stage0, stage1 = load_file(str(run / "stage0.safetensors")), load_file(str(run / "stage1.safetensors"))
    fe0, fe1 = _fe(stage0), _fe(stage1)
    assert fe0 and all(torch.equal(fe0[k], fe1[k]) for k in fe0)
    assert any(not torch.equal(stage0[k], stage1[k]) for k in stage0 if k.startswith("rf_stages."))


def test_progressive_run_checkpoints_logs_and_resumes(tmp_path, caplog):
    config = _config(tmp_path)
    assert main(["--config", config]) == 0
    run = tmp_path / "run"
    rows = list(csv.DictReader((run / "train.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 8))
    assert [int(r["stage"]) for r in rows] == [0, 0, 0, 0, 1, 1, 1]
    assert all(math.isfinite(float(r["loss"])) for r in rows)
    assert (run / "loss_curves.png").stat().st_size > 0 and (run / "final.json").is_file()
    _assert_algorithm_1(run)

    # A second start finds the finished run's state and trains nothing more.
    before = load_file(str(run / "final.safetensors"))
    assert main(["--config", config]) == 0
    assert "resuming" in caplog.text
    after = load_file(str(run / "final.safetensors"))
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert len(list(csv.DictReader((run / "train.csv").open()))) == 7


def test_bad_config_is_one_error_line(tmp_path, capsys):
    assert main(["--config", _config(tmp_path, protocol="sideways")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "protocol" in err[0]


def test_mixstyle_in_the_config_changes_what_is_learnt(tmp_path):
    """The same seeded run learns the same weights, and other weights with MixStyle on."""
    def final(name, **overrides):
        run = tmp_path / name
        run.mkdir()
        config = _config(run, protocol="end_to_end", stage_steps=[3, 0], **overrides)
        assert main(["--config", config]) == 0
        return load_file(str(run / "run" / "final.safetensors"))

    plain, again, mixed = final("plain"), final("again"), final("mixed", mixstyle=1.0)
    assert all(torch.equal(plain[k], again[k]) for k in plain)
    assert any(not torch.equal(plain[k], mixed[k]) for k in plain if k.startswith("stem."))
    deeper = final("deeper", mixstyle=1.0, mixstyle_depth=3)  # also after FE's second stage
    assert any(not torch.equal(mixed[k], deeper[k]) for k in mixed if k.startswith("stem."))
    exact = final("exact", mixstyle=1.0, mixstyle_kind="exact")  # EFDMix instead of the moments
    assert any(not torch.equal(mixed[k], exact[k]) for k in mixed if k.startswith("stem."))


def test_an_unknown_mixstyle_kind_is_one_error_line(tmp_path, capsys):
    assert main(["--config", _config(tmp_path, mixstyle=0.5, mixstyle_kind="histogram")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mixstyle_kind" in err[0]


def test_mixstyle_deeper_than_the_feature_extractor_is_one_error_line(tmp_path, capsys):
    assert main(["--config", _config(tmp_path, mixstyle=0.5, mixstyle_depth=4)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "mixstyle_depth" in err[0]


def test_a_constant_rate_run_keeps_its_weights_every_n_steps(tmp_path):
    config = _config(tmp_path, protocol="end_to_end", stage_steps=[4, 2], keep_every=2,
                     lr_schedule="constant", lr=0.01)
    assert main(["--config", config]) == 0
    run = tmp_path / "run"
    kept = sorted(p.name for p in run.glob("step*.safetensors"))
    assert kept == ["step2.safetensors", "step4.safetensors", "step6.safetensors"]
    assert json.loads((run / "step4.json").read_text())["training"]["step"] == 4
    assert not torch.equal(load_file(str(run / "step2.safetensors"))["stem.conv.weight"],
                           load_file(str(run / "step6.safetensors"))["stem.conv.weight"])
    rates = [float(r["lr"]) for r in csv.DictReader((run / "train.csv").open())]
    assert rates[1:] == [0.01] * 5  # after one warm-up step, no decay


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(tmp_path):
    """DistributedDataParallel over gloo: the path multi-GPU users take, on two CPU processes."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "dirnet.training", "--config", _config(tmp_path)],
        capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "run"
    assert json.loads((run / "final.json").read_text())["training"]["world_size"] == 2
    assert proc.stderr.count("final checkpoint:") == 1  # rank 0 alone reports and writes
    _assert_algorithm_1(run)
