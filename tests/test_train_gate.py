"""dirnet.training.gate: REINFORCE learns to exit early on easy samples; the CLI writes a usable checkpoint."""
import math

import numpy as np
import pytest
import torch

from dirnet.exit_policy import ExitPolicy
from dirnet.exits import exit_loops
from dirnet.flops import StageFlops
from dirnet.models.blocks import ExitGate
from dirnet.training.gate import (GateCache, GateTrainConfig, choose_row, fit_gate, gate_logits, main,
                                  outcome, rewards, sample_episodes, train_gate)
from dirnet.weights import load_checkpoint
from tests.conftest import write_checkpoint, write_teacher_set

LOOPS = 4
STAGE = StageFlops(fe=50_000_000, rf=25_000_000, head=1_000_000, gate=100_000, feedback=5_000_000)


def easy_and_hard_cache(n: int = 128, seed: int = 0) -> tuple[GateCache, np.ndarray]:
    """Half the samples gain nothing from more loops, half gain a lot; features tell them apart."""
    rng = np.random.default_rng(seed)
    hard = rng.random(n) < 0.5
    features = rng.normal(0, 1, (LOOPS, n, 16))
    features[:, :, 0] = np.where(hard, 2.0, -2.0) + rng.normal(0, 0.3, (LOOPS, n))
    features[:, :, 1] = np.arange(LOOPS)[:, None]
    features = np.maximum(features, 0).astype(np.float32)  # Psi_var1 ends in a ReLU
    err3d = np.where(hard, np.array([40.0, 25.0, 15.0, 10.0])[:, None], 10.0) + rng.normal(0, 0.5, (LOOPS, n))
    cache = GateCache(features, err3d / 2, err3d, 0.6 * err3d, np.ones((LOOPS, n), np.float32), STAGE)
    return cache, hard


def test_rewards_follow_eq_11():
    cache, _ = easy_and_hard_cache(8)
    r = rewards(cache, lam=0.5)
    loop_cost = STAGE.gflops(2, gate=True) - STAGE.gflops(1, gate=True)
    expected = -0.5 * (cache.err2d * 224 / 256 + cache.err3d) - np.arange(LOOPS)[:, None] * loop_cost
    np.testing.assert_allclose(r, expected)


def test_episodes_and_their_log_probabilities():
    # Loop 0 surely continues, loop 1 surely exits.
    logits = torch.tensor([[-20.0, 20.0], [20.0, -20.0], [0.0, 0.0], [0.0, 0.0]])[:, None].repeat(1, 3, 1)
    logits.requires_grad_(True)
    k, logprob = sample_episodes(logits, torch.Generator().manual_seed(0))
    assert k.tolist() == [1, 1, 1]
    assert torch.allclose(logprob, torch.zeros(3), atol=1e-6)
    # Undecided policy: every episode's log-probability is that of its actions, 0.5 each.
    k, logprob = sample_episodes(torch.zeros(LOOPS, 500, 2), torch.Generator().manual_seed(0))
    decisions = torch.clamp(k + 1, max=LOOPS - 1)
    torch.testing.assert_close(logprob, decisions * np.log(0.5))
    assert set(k.tolist()) == {0, 1, 2, 3}


def test_reinforce_learns_to_exit_early_on_easy_samples():
    cache, hard = easy_and_hard_cache()
    torch.manual_seed(0)
    gate = ExitGate(16, 64)
    with torch.no_grad():  # start out reluctant to exit: the deterministic policy runs every loop
        gate.mlp[-1].bias.copy_(torch.tensor([-1.5, 1.5]))
    policy = ExitPolicy("gate", tau_gate=1.0, max_loops=LOOPS)
    before = exit_loops(policy, cache.mean_var, gate_logits(gate, cache))
    assert before.mean() == LOOPS
    history = train_gate(gate, cache, lam=0.05, cfg=GateTrainConfig(epochs=60))
    assert history[-1] > history[0]
    after = exit_loops(policy, cache.mean_var, gate_logits(gate, cache))
    assert after[~hard].mean() < 1.3, "easy samples should exit after the first loop"
    assert after[hard].mean() > 3.7, "hard samples should keep refining"
    full = outcome(cache, np.full(len(cache), LOOPS), gate=False)
    got = outcome(cache, after, gate=True)
    assert got["gflops"] < 0.75 * full["gflops"]
    for key in ("err2d", "err3d", "pa"):
        assert got[key] <= 1.02 * full[key], key


def _row(lam, saving, loss):
    """A judged gate as fit_gate's rows hold it (margins as dirnet.training.gate's outcome)."""
    margin = min((saving - 0.3) / 0.3, (0.02 - loss) / 0.02)
    return {"lambda": lam, "gflops_saving": saving, "error_increase": loss, "margin": margin,
            "meets_target": saving >= 0.3 and loss <= 0.02}


def test_the_starting_gate_stays_unless_a_new_one_meets_the_targets():
    start, never_exits, exits_too_much = _row(None, 0.55, 0.057), _row(0.1, 0.0, 0.0), _row(0.03, 0.52, 0.041)
    # Nothing meets both: the margins rank the gate that never exits first; the starting one stays.
    assert choose_row([start, never_exits, exits_too_much])["lambda"] == 0.1
    assert choose_row([start, never_exits, exits_too_much], keep_start=True)["lambda"] is None
    good, better = _row(0.01, 0.35, 0.01), _row(0.02, 0.45, 0.015)
    assert choose_row([start, never_exits, good, better], keep_start=True)["lambda"] == 0.02
    assert choose_row([_row(None, 0.5, 0.0), good], keep_start=True)["lambda"] is None  # start meets them best


def test_fit_gate_judges_every_seed_and_temperature_and_loads_the_chosen_gate():
    cache, _ = easy_and_hard_cache(256)
    train, held = cache.subset(np.arange(0, 256, 2)), cache.subset(np.arange(1, 256, 2))
    torch.manual_seed(0)
    gate = ExitGate(16, 64)
    with torch.no_grad():  # the start runs every loop: only a trained gate can meet the targets
        gate.mlp[-1].bias.copy_(torch.tensor([-1.5, 1.5]))
    start = {k: v.clone() for k, v in gate.state_dict().items()}
    best, rows, tau_var = fit_gate(gate, train, held, (0.01, 0.05), GateTrainConfig(epochs=60), keep_start=True,
                                   seeds=2, taus=(1.0, 2.0))
    assert [(r["lambda"], r["seed"], r["tau_gate"]) for r in rows] == [
        (None, None, 1.0), (None, None, 2.0), (0.01, 0, 1.0), (0.01, 0, 2.0), (0.01, 1, 1.0), (0.01, 1, 2.0),
        (0.05, 0, 1.0), (0.05, 0, 2.0), (0.05, 1, 1.0), (0.05, 1, 2.0)]
    assert best["meets_target"] and best["lambda"] is not None
    assert best["margin"] == max(r["margin"] for r in rows)
    # The gate now in `gate` is the chosen one: judged again at the chosen tau_gate, the same outcome.
    again = exit_loops(ExitPolicy("gate", tau_gate=best["tau_gate"], max_loops=LOOPS), held.mean_var,
                       gate_logits(gate, held))
    assert again.mean() == pytest.approx(best["loops"])
    assert any(not torch.equal(v, start[k]) for k, v in gate.state_dict().items())
    assert tau_var > 0


def test_cli_trains_the_gate_only(tmp_path, capsys):
    weights = write_checkpoint(tmp_path / "w")
    data = write_teacher_set(tmp_path / "teacher", n=8)
    out = tmp_path / "gated"
    assert main(["--weights", str(weights), "--data", f"teacher:{data}", "--out", str(out),
                 "--lam", "0.01", "--seeds", "1", "--tau-gate", "1.5", "--epochs", "3", "--val-fraction", "0.25"]) == 0
    printed = capsys.readouterr().out
    assert "lambda" in printed and "chose lambda=0.01, seed 0, tau_gate 1.5" in printed
    before, _ = load_checkpoint(weights)
    after, meta = load_checkpoint(out)
    changed = {k for k, v in after.state_dict_without_hand().items()
               if not torch.equal(v, before.state_dict_without_hand()[k])}
    assert changed and all(k.startswith("gate.") for k in changed)
    assert meta["defaults"]["exit_mode"] == "gate" and meta["defaults"]["tau_gate"] == 1.5
    assert meta["defaults"]["tau_var"] > 0
    training = meta["gate_training"]
    assert training["lambda"] == 0.01 and training["held_out_samples"] == 2
    (row,) = training["results"]  # one row per lambda, seed and tau_gate tried, as printed
    assert (row["lambda"], row["seed"], row["tau_gate"]) == (0.01, 0, 1.5) and 1.0 <= row["loops"] <= 3.0 and isinstance(row["meets_target"], bool)
    assert all(math.isfinite(row[k]) for k in ("gflops", "gflops_saving", "err2d", "final_return"))


def test_cli_reports_bad_data(tmp_path, capsys):
    weights = write_checkpoint(tmp_path / "w")
    assert main(["--weights", str(weights), "--data", f"teacher:{tmp_path / 'none'}", "--eager",
                 "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "not found" in err and "Traceback" not in err
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "o")
