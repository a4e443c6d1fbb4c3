"""Before/after numbers of a fine-tune, scored as `dirnet.evaluation` and its benchmark
score (crops around the labelled joints, every loop run once, exits replayed).

Sources: the frames fine-tuned on ("fit"), the held-out slice of the same recordings, synthetic
renders of random poses (always available: a check that other poses were not forgotten), and any
labelled clip (by default the ASL clip of ../shared, when it is there).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from ..evaluation.replay import LoopTable, collect, evaluate_table, sample_means
from ..evaluation.sources import EvalSource, open_source, parse_spec
from ..exits import ExitPolicy
from ..flops import count_stage_flops
from ..models.dirnet import DIRNet

__all__ = ["Score", "synthetic_source", "open_checks", "score", "score_table", "format_scores"]

_SYNTH_SEED = 20261130  # the same renders before and after, and in every run


@dataclass(frozen=True)
class Score:
    """One model on one source: n hands; 2D error in px of a 256 px crop per hand (mean, median)
    and PA-MPJPE in mm (NaN without 3D labels), all loops; and at the model's gate, its 2D error
    and mean loops."""

    n: int
    err2d: float
    err2d_median: float
    pa_mpjpe: float
    gate_err2d: float
    gate_loops: float

    def to_dict(self) -> dict:
        return {k: (round(v, 3) if isinstance(v, float) and np.isfinite(v) else v) for k, v in asdict(self).items()}


def synthetic_source(model: DIRNet, n: int) -> EvalSource:
    """n renders of random poses on random backgrounds (exact labels), the same every call."""
    from ..data.synth import SynthRenderer

    renderer = SynthRenderer(model.hand, res=model.cfg.input_res)
    with torch.no_grad():
        batch = renderer.sample(n, torch.Generator().manual_seed(_SYNTH_SEED)).to_right()
    images = batch.images.permute(0, 2, 3, 1).contiguous().numpy()  # (n, R, R, 3) uint8 RGB
    joints2d = batch.joints2d.double().numpy()
    joints3d = (batch.joints3d - batch.joints3d[:, :1]).double().numpy()

    def items():
        for i in range(n):
            yield images[i], joints2d[i], joints3d[i], False

    return EvalSource("synthetic", n, items, model.cfg.input_res)


def open_checks(specs: list[str], res: int) -> tuple[dict[str, EvalSource], list[str]]:
    """EvalSources of `dirnet.evaluation` specs; a spec that cannot be opened is reported, not fatal."""
    sources, problems = {}, []
    for text in specs:
        try:
            source = open_source(parse_spec(text), res)
        except (FileNotFoundError, ValueError, OSError) as exc:
            problems.append(f"{text}: {exc}")
            continue
        sources[source.name] = source
    return sources, problems


def score_table(table: LoopTable, model: DIRNet, tau_gate: float) -> Score:
    """The Score of collected outputs (`dirnet.evaluation.replay.collect`), with the gate's logits in it."""
    loops = model.cfg.max_loops
    policy = ExitPolicy(exit_mode="none", max_loops=loops, tau_gate=tau_gate)
    report = evaluate_table("", table, count_stage_flops(model), policy, ("gate",))
    full, gate = report.chosen[f"loops_{loops}"], report.chosen["gate"]
    per_hand = sample_means(full.crop256)
    pa = sample_means(full.pa)
    return Score(len(table), float(np.nanmean(per_hand)), float(np.nanmedian(per_hand)),
                 float(np.nanmean(pa)) if np.isfinite(pa).any() else float("nan"),
                 float(np.nanmean(sample_means(gate.crop256))), report.policies["gate"].mean_loops)


def score(model: DIRNet, source: EvalSource, tau_gate: float) -> tuple[Score, LoopTable]:
    """Run `model` (in eval mode) on a source; returns its Score and the table."""
    table = collect(model, source, desc=f"score {source.name}")
    return score_table(table, model, tau_gate), table


def format_scores(before: dict[str, Score], after: dict[str, Score]) -> str:
    """A plain-text table: per source, 2D error and PA-MPJPE before -> after."""
    lines = [f"{'source':28} {'hands':>5}  {'2D px (256 px crop), mean':>27}  {'median':>15}  "
             f"{'PA-MPJPE mm':>15}  {'gate loops':>12}"]
    for name, b in before.items():
        a = after[name]
        lines.append(f"{name:28} {b.n:>5}  {b.err2d:>12.2f} -> {a.err2d:<6.2f} ({_change(b.err2d, a.err2d)})  "
                     f"{b.err2d_median:>6.2f} -> {a.err2d_median:<6.2f}  {b.pa_mpjpe:>6.2f} -> {a.pa_mpjpe:<6.2f}  "
                     f"{b.gate_loops:>4.2f} -> {a.gate_loops:<4.2f}")
    return "\n".join(lines)


def _change(before: float, after: float) -> str:
    return f"{100 * (after / before - 1):+.0f}%" if before > 0 else "n/a"
