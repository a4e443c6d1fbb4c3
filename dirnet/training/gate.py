"""`python -m dirnet.training.gate`: train only the exit gate G by REINFORCE (paper Sec. 4.2, Eqs. 10-11).

    python -m dirnet.training.gate --weights W --data SPEC [--data SPEC ...] --out W_OUT
        [--lam F] [--seeds N] [--tau-gate T ...] [--epochs N] [--held-out SPEC ...] [--val-fraction F]

SPEC as for `python -m dirnet.evaluation`. The rest of DIR-Net is frozen, so everything the gate
needs is computed once: per sample and loop, the gate's input f = Psi_var1(h) and the errors of
that loop's joints (a GateCache). Training then only runs the small gate MLP on the cache.

Episode (one per sample and draw): at loops l = 0..L-2 the policy samples EXIT/CONTINUE from
softmax(G(f_l)) at temperature 1; the episode ends at the first EXIT, or at the last loop, where
there is no decision. Its return is the reward of the exit loop k (Eq. 11):
    r_k = -lambda * (L2D_k + L3D_k) - k * GFLOPs_loop
with L2D the sample's mean 2D joint error in px of a 224 px crop, L3D its mean wrist-relative 3D
error in mm (the quantities the accuracy targets are stated in, rather than the training losses'
squared/smooth-L1 forms), and GFLOPs_loop the cost of one more loop (refiner, heads, gate, AMG).
Gradient (Eq. 10): (R - b) / s * sum of the log-probabilities of the actions taken. Each sample
plays `draws` episodes per step; b is the mean return of its other draws (a leave-one-out baseline)
and s the spread of its draws' returns, so the signal is which actions were better for this
sample (not how hard it is) and one learning rate fits every lambda.

Without --lam, lambda is chosen by a sweep: each value trains a gate from the same start (once per
seed: REINFORCE lands on different gates from run to run), and the held-out split scores each at
every tau_gate of --tau-gate with the deterministic median exit of `dirnet.exits` (exit once
prod(1 - P(EXIT / tau_gate)) <= 1/2). The target is >= 30% fewer GFLOPs than always running max
loops with <= 2% higher mean 2D error, MPJPE and PA-MPJPE; the gate and tau_gate with the largest
relative margin on both targets win (the least bad when none meets them), and that tau_gate
becomes the checkpoint's default. tau_var is then chosen on the same held-out split so the
variance exit runs about as many loops as the gate.

Without --held-out, a random share (--val-fraction) of the --data samples is held out. Neighbouring
video frames are near-duplicates, so prefer the training split's own folders, e.g.
`--data teacher:DIR:train --held-out teacher:DIR:val` (the split training uses).
"""
from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..cli import EXIT_USAGE, configure_logging, fail, warn
from ..evaluation.replay import TAU_VAR_QUANTILES, LoopTable, collect, fast_model, sample_means
from ..evaluation.sources import open_source, parse_spec
from ..exit_policy import ExitPolicy
from ..exits import exit_loops
from ..flops import StageFlops, count_stage_flops
from ..models.blocks import ExitGate
from ..models.dirnet import REFERENCE_RES
from ..models.staged import StagedModel
from ..weights import load_checkpoint, save_checkpoint

__all__ = ["GateCache", "GateTrainConfig", "LAMBDA_SWEEP", "DEFAULT_TAU_GATES", "rewards", "sample_episodes",
           "train_gate", "gate_logits", "outcome", "choose_tau_var", "choose_row", "fit_gate", "main"]

# GFLOPs per unit of (px + mm) error; dense at the knee (0.1-0.2), where the GFLOPs saved fall
# steeply as lambda grows.
LAMBDA_SWEEP = (0.001, 0.003, 0.01, 0.03, 0.1, 0.125, 0.15, 0.175, 0.2, 0.3, 1.0)
# Default temperatures judged per gate. Above 1 the survival product falls faster after the first
# loop, so a gate that spends the error budget well but saves a little short of the target can be
# moved along its own curve without retraining (the window's slider moves it further).
DEFAULT_TAU_GATES = (1.0, 1.5, 2.0, 3.0)
TARGET_SAVING = 0.30  # fraction of GFLOPs saved against max loops
TARGET_LOSS = 0.02  # largest relative increase of mean 2D error, MPJPE and PA-MPJPE


@dataclass
class GateCache:
    """What gate training needs, per loop l and sample n, from a frozen model.

    features: (L, N, D) float32 gate inputs f = Psi_var1(h). err2d: (L, N) per-sample mean 2D
    error, crop-256 px. err3d: (L, N) per-sample MPJPE, mm. pa: (L, N) per-sample PA-MPJPE, mm.
    mean_var: (L, N) float32 mean predicted variance (for choosing tau_var). NaN marks a missing
    label. stage: the model's FLOPs per stage.
    """

    features: np.ndarray
    err2d: np.ndarray
    err3d: np.ndarray
    pa: np.ndarray
    mean_var: np.ndarray
    stage: StageFlops

    @classmethod
    def from_table(cls, table: LoopTable, stage: StageFlops) -> "GateCache":
        """Per-sample errors and gate inputs of a LoopTable."""
        errors = table.errors()
        means = [sample_means(getattr(errors, k)) for k in ("crop256", "mm", "pa")]
        return cls(table.gate_input, *means, table.mean_var, stage)

    def __len__(self) -> int:
        return self.features.shape[1]

    @property
    def num_loops(self) -> int:
        return self.features.shape[0]

    @property
    def loop_gflops(self) -> float:
        """GFLOPs of one more loop when exiting by gate."""
        return self.stage.gflops(2, gate=True) - self.stage.gflops(1, gate=True)

    def subset(self, index: np.ndarray) -> "GateCache":
        return GateCache(self.features[:, index], self.err2d[:, index], self.err3d[:, index],
                         self.pa[:, index], self.mean_var[:, index], self.stage)


def rewards(cache: GateCache, lam: float) -> np.ndarray:
    """Eq. 11 for every sample and exit loop: (L, N) r_l = -lam (L2D_l + L3D_l) - l GFLOPs_loop.

    A missing label contributes no error term.
    """
    l2d = np.nan_to_num(cache.err2d * (REFERENCE_RES / 256.0))  # crop-256 px -> 224-px-crop px
    l3d = np.nan_to_num(cache.err3d)
    cost = np.arange(cache.num_loops)[:, None] * cache.loop_gflops
    return -lam * (l2d + l3d) - cost


def sample_episodes(logits: torch.Tensor, generator: torch.Generator | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Roll out the stochastic exit policy (temperature 1).

    Args:
        logits: (L, B, 2) gate logits (EXIT, CONTINUE) per loop.
        generator: random source.
    Returns:
        (exit loop k (B,) int64 in 0..L-1, sum of log-probabilities of the actions taken (B,)).
    """
    num_loops, batch = logits.shape[:2]
    logp = torch.log_softmax(logits, -1)
    decisions = num_loops - 1  # no decision at the last loop: the episode ends there anyway
    p_exit = logp[:decisions, :, 0].detach().exp()
    exits = torch.rand(p_exit.shape, generator=generator, device=logits.device) < p_exit
    exits = torch.cat([exits, torch.ones(1, batch, dtype=torch.bool, device=logits.device)])
    k = exits.int().argmax(0)
    step = torch.arange(num_loops, device=logits.device)[:, None]
    took_continue = (step < k).float()
    took_exit = ((step == k) & (step < decisions)).float()
    logprob = (took_continue * logp[..., 1] + took_exit * logp[..., 0]).sum(0)
    return k, logprob


@dataclass(frozen=True)
class GateTrainConfig:
    """REINFORCE settings (the defaults are what the lambda sweep uses)."""

    epochs: int = 60
    batch_size: int = 256
    draws: int = 4  # episodes per sample per step (>= 2: they form each other's baseline)
    lr: float = 3e-3
    seed: int = 0


def train_gate(gate: ExitGate, cache: GateCache, lam: float, cfg: GateTrainConfig = GateTrainConfig(),
               progress: bool = False) -> list[float]:
    """Train `gate` in place by REINFORCE on a cache.

    Returns:
        Mean episode return per epoch.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    features = torch.from_numpy(np.ascontiguousarray(cache.features, dtype=np.float32))
    reward = torch.from_numpy(rewards(cache, lam)).float()
    opt = torch.optim.Adam(gate.parameters(), lr=cfg.lr)
    gate.train()
    history = []
    for _ in tqdm(range(cfg.epochs), desc=f"gate lambda={lam:g}", disable=not progress or None):
        order = torch.randperm(len(cache), generator=gen)
        returns = []
        for start in range(0, len(cache), cfg.batch_size):
            index = order[start:start + cfg.batch_size].repeat(cfg.draws)
            k, logprob = sample_episodes(gate(features[:, index]), gen)
            ret = reward[k, index]
            # Baseline: the mean return of the same sample's other draws (leave-one-out), scaled by
            # the spread of its draws (group-normalised, as GRPO): the advantage then says which
            # actions were better for this sample, not how hard the sample is. A batch-mean
            # baseline let hard samples' large returns swamp easy ones' and the gate collapsed to
            # "never exit" in tests/test_train_gate.py's problem at lambda = 0.05.
            draws = ret.view(cfg.draws, -1)
            spread = draws.std(0, unbiased=False) + 1e-6
            advantage = (draws - (draws.sum(0) - draws) / (cfg.draws - 1)) / spread
            advantage = advantage.reshape(-1)
            loss = -(advantage * logprob).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            returns.append(ret.mean().item())
        history.append(float(np.mean(returns)))
    gate.eval()
    return history


@torch.no_grad()
def gate_logits(gate: ExitGate, cache: GateCache) -> np.ndarray:
    """(L, N, 2) float32 logits of `gate` on the cached features."""
    return gate(torch.from_numpy(np.ascontiguousarray(cache.features, dtype=np.float32))).numpy()


def outcome(cache: GateCache, loops: np.ndarray, gate: bool) -> dict[str, float]:
    """Mean loops, GFLOPs and per-sample mean errors when each sample stops after loops[n] passes."""
    rows = np.arange(len(cache))
    cost = np.array([cache.stage.gflops(k, gate=gate) for k in range(1, cache.num_loops + 1)])
    errors = {k: getattr(cache, k)[loops - 1, rows] for k in ("err2d", "err3d", "pa")}
    return {"loops": float(loops.mean()), "gflops": float(cost[loops - 1].mean()),
            **{k: float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")
               for k, v in errors.items()}}


def _judge(cache: GateCache, logits: np.ndarray, tau_gate: float = 1.0) -> dict[str, float]:
    """Outcome of the deterministic gate exit against max loops, with the target margins."""
    full = outcome(cache, np.full(len(cache), cache.num_loops), gate=False)
    policy = ExitPolicy(exit_mode="gate", tau_gate=tau_gate, max_loops=cache.num_loops)
    got = outcome(cache, exit_loops(policy, cache.mean_var, logits), gate=True)
    saving = 1.0 - got["gflops"] / full["gflops"]
    loss = max((got[k] / full[k] - 1.0 for k in ("err2d", "err3d", "pa") if full[k] > 0), default=0.0)
    margin = min((saving - TARGET_SAVING) / TARGET_SAVING, (TARGET_LOSS - loss) / TARGET_LOSS)
    return {**got, "gflops_saving": saving, "error_increase": loss, "margin": margin,
            "meets_target": bool(saving >= TARGET_SAVING and loss <= TARGET_LOSS)}


def choose_tau_var(cache: GateCache, target_loops: float) -> float:
    """The tau_var whose variance exit's mean loop count on `cache` is closest to target_loops."""
    values = cache.mean_var[:max(cache.num_loops - 1, 1)].ravel()
    candidates = np.unique(np.quantile(values, np.linspace(0, 1, 4 * len(TAU_VAR_QUANTILES))) * (1 + 1e-6))
    policy = ExitPolicy(exit_mode="variance", max_loops=cache.num_loops)
    loops = [exit_loops(replace(policy, tau_var=float(t)), cache.mean_var).mean() for t in candidates]
    return float(candidates[int(np.argmin(np.abs(np.asarray(loops) - target_loops)))])


def choose_row(rows: list[dict], keep_start: bool = False) -> dict:
    """The gate to keep of the judged `rows`: the largest relative margin on both targets, the
    least bad when none meets them. With `keep_start`, the rows of the starting gate (lambda None)
    stay unless another row meets both targets: a few hundred samples of one person can train gates
    that are worse elsewhere, or that never exit and pass for the least bad on a short held-out slice."""
    if keep_start:
        rows = [r for r in rows if r["meets_target"]] or [r for r in rows if r["lambda"] is None]
    return max(rows, key=lambda r: r["margin"])


def fit_gate(gate: ExitGate, cache: GateCache, held: GateCache, lambdas: tuple[float, ...] = LAMBDA_SWEEP,
             cfg: GateTrainConfig = GateTrainConfig(), progress: bool = False, keep_start: bool = False,
             seeds: int = 1, taus: tuple[float, ...] = (1.0,)) -> tuple[dict, list[dict], float]:
    """Train a copy of `gate` per lambda and seed (cfg.seed, cfg.seed + 1, ...) on `cache`, judge
    each on `held` at every tau_gate of `taus`, and load the best into `gate` (`choose_row`). With
    `keep_start` the starting gate (an already trained one) is judged too, in the rows with lambda None.

    Returns:
        (the best row, every row: lambda, seed, tau_gate, final_return and the held-out outcome,
        the tau_var whose variance exit runs about as many loops on `held` as the chosen gate).
    """
    def judged(trained: ExitGate, **row) -> list[dict]:
        logits = gate_logits(trained, held)
        return [{**row, "tau_gate": tau, **_judge(held, logits, tau)} for tau in taus]

    rows, gates = [], {}
    if keep_start:
        rows += judged(gate, **{"lambda": None, "seed": None, "final_return": None})
    for lam in lambdas:
        for seed in range(cfg.seed, cfg.seed + seeds):
            trained = copy.deepcopy(gate)
            history = train_gate(trained, cache, lam, replace(cfg, seed=seed), progress=progress)
            gates[lam, seed] = trained
            rows += judged(trained, **{"lambda": lam, "seed": seed, "final_return": history[-1]})
    best = choose_row(rows, keep_start)
    if best["lambda"] is not None:
        gate.load_state_dict(gates[best["lambda"], best["seed"]].state_dict())
    return best, rows, choose_tau_var(held, best["loops"])


def _split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    held = max(1, int(round(n * fraction)))
    return np.sort(order[held:]), np.sort(order[:held])


def _cache(model: StagedModel, specs: list[str], stage: StageFlops, batch_size: int, limit: int | None,
           problems: list[str]) -> GateCache | None:
    """One GateCache over all specs (run on a DIRNet or its FastDIRNet); a spec that fails is
    reported in `problems` and skipped."""
    tables = []
    for text in specs:
        try:
            source = open_source(parse_spec(text), model.cfg.input_res, limit)
            tables.append(collect(model, source, batch_size, desc=f"cache {source.name}"))
            problems.extend(f"{source.name}: {line}" for line in source.problems)
        except (FileNotFoundError, ValueError, OSError) as exc:
            problems.append(f"{text}: {exc}")
    if not tables:
        return None
    caches = [GateCache.from_table(t, stage) for t in tables]
    return GateCache(*(np.concatenate([getattr(c, k) for c in caches], axis=1)
                       for k in ("features", "err2d", "err3d", "pa", "mean_var")), stage)


def _print_sweep(rows: list[dict]) -> None:
    print(f"{'lambda':>8} {'seed':>4} {'tau_gate':>8} {'loops':>6} {'GFLOPs':>7} {'saved':>7} {'2D c256':>8} "
          f"{'MPJPE':>7} {'PA':>7} {'err +':>7}  target")
    for r in rows:
        print(f"{r['lambda']:>8g} {r['seed']:>4} {r['tau_gate']:>8g} {r['loops']:>6.2f} {r['gflops']:>7.3f} {100 * r['gflops_saving']:>6.1f}% "
              f"{r['err2d']:>8.2f} {r['err3d']:>7.2f} {r['pa']:>7.2f} {100 * r['error_increase']:>6.2f}%  "
              f"{'met' if r['meets_target'] else '-'}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dirnet.training.gate",
                                description="Train DIR-Net's exit gate by REINFORCE, the rest frozen.")
    p.add_argument("--weights", type=Path, required=True, help="trained checkpoint")
    p.add_argument("--data", action="append", required=True, metavar="SPEC", help="as for dirnet.evaluation")
    p.add_argument("--out", type=Path, required=True, help="output checkpoint stem")
    p.add_argument("--lam", type=float, default=None, help=f"lambda of Eq. 11 (default: sweep {LAMBDA_SWEEP})")
    p.add_argument("--seeds", type=int, default=2, help="gates trained per lambda, from seeds --seed, --seed + 1, ...")
    p.add_argument("--tau-gate", type=float, nargs="+", default=list(DEFAULT_TAU_GATES),
                   help="default temperatures judged per gate (the best becomes the checkpoint's default)")
    p.add_argument("--epochs", type=int, default=GateTrainConfig.epochs)
    p.add_argument("--held-out", action="append", default=None, metavar="SPEC",
                   help="held-out data for choosing lambda and tau_var (default: a split of --data)")
    p.add_argument("--val-fraction", type=float, default=0.3, help="held-out share of --data without --held-out")
    p.add_argument("--batch-size", type=int, default=32, help="images per forward pass while caching")
    p.add_argument("--limit", type=int, default=None, help="at most this many samples per source")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eager", action="store_true", help="plain PyTorch instead of the fast path")
    a = p.parse_args(argv)
    configure_logging()
    try:
        model, meta = load_checkpoint(a.weights)
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    if model.cfg.max_loops < 2:
        return fail("a model with one loop has no exit to learn", EXIT_USAGE)
    stage = count_stage_flops(model)
    runner = model if a.eager else fast_model(model)
    problems: list[str] = []
    cache = _cache(runner, a.data, stage, a.batch_size, a.limit, problems)
    held = _cache(runner, a.held_out, stage, a.batch_size, a.limit, problems) if a.held_out else None
    warn(*problems)
    if cache is None or (a.held_out and held is None):
        return fail("no usable data")
    if held is None:
        train_idx, held_idx = _split(len(cache), a.val_fraction, a.seed)
        cache, held = cache.subset(train_idx), cache.subset(held_idx)
    cfg = GateTrainConfig(epochs=a.epochs, seed=a.seed)
    lambdas = (a.lam,) if a.lam is not None else LAMBDA_SWEEP
    best, rows, tau_var = fit_gate(model.gate, cache, held, lambdas, cfg, progress=True, seeds=a.seeds,
                                   taus=tuple(a.tau_gate))
    print(f"\ngate training on {len(cache)} samples, judged on {len(held)} held-out samples "
          f"(deterministic median exit; target: >= {100 * TARGET_SAVING:.0f}% GFLOPs saved, "
          f"<= {100 * TARGET_LOSS:.0f}% error increase)")
    _print_sweep(rows)
    metadata = {k: v for k, v in meta.items() if k not in ("format", "config", "hand_model")}
    metadata["defaults"] = {"exit_mode": "gate", "tau_var": tau_var, "tau_gate": best["tau_gate"],
                            "max_loops": model.cfg.max_loops}
    metadata["gate_training"] = {
        "lambda": best["lambda"], "seed": best["seed"], "tau_gate": best["tau_gate"], "data": a.data,
        "held_out": a.held_out or f"random {a.val_fraction} of data",
        "epochs": cfg.epochs, "draws": cfg.draws, "lr": cfg.lr, "seeds": list(range(cfg.seed, cfg.seed + a.seeds)),
        "baseline": "per-sample leave-one-out mean over draws, divided by the draws' std",
        "results": rows,
        "train_samples": len(cache), "held_out_samples": len(held)}
    save_checkpoint(model, a.out, metadata)
    print(f"\nchose lambda={best['lambda']:g}, seed {best['seed']}, tau_gate {best['tau_gate']:g} "
          f"({'meets' if best['meets_target'] else 'MISSES'} the target); "
          f"tau_var={tau_var:.4g} gives about the same mean loops ({best['loops']:.2f}); wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
