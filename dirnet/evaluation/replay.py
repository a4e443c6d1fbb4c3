"""Exit replay: run every loop once per sample, then score each exit policy from what was recorded.

`collect` runs ALL loops of a staged model (DIRNet or its FastDIRNet) once on every sample of a
source and records each loop's joints, variances, gate logits and gate input (a LoopTable).
`evaluate_table` then replays every exit policy from those recordings with
`dirnet.exits.exit_loops` (the rule `run_with_exits` applies), so sweeping tau_var and tau_gate
costs no extra inference; gate training (dirnet.training.gate) caches the same tables.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from tqdm import tqdm

from ..data.splits import hand_view
from ..exit_policy import EXIT_MODES, ExitPolicy
from ..exits import exit_loops, mean_variance
from ..flops import StageFlops
from ..hand.skeleton import SIDE_SWAP
from ..models.dirnet import DIRNet
from ..models.staged import LoopOutput, StagedModel, forward_loops
from ..runtime.engine import FastDIRNet
from ..runtime.quantize import Int8Plan
from .metrics import EvalSummary, JointErrors, joint_errors, summarize_errors
from .sources import EvalSource

__all__ = ["TAU_GATE_SWEEP", "TAU_VAR_QUANTILES", "LoopTable", "SourceReport", "fast_model", "collect",
           "policy_gflops", "policy_summary", "sample_means", "evaluate_table"]

# tau_gate values swept for Fig. 7 (log-spaced; 1 is the trained default).
TAU_GATE_SWEEP = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
# tau_var values are quantiles of the per-loop mean variances, so the sweep spans every exit rate.
TAU_VAR_QUANTILES = np.linspace(0.0, 1.0, 15)


def fast_model(model: DIRNet, plan: Int8Plan | None = None) -> FastDIRNet:
    """The fast inference path of `model` (folded BatchNorms in ONNX Runtime, dirnet.runtime; the
    stages of an Int8Plan `plan` in int8), on as many threads as torch uses; it serves `collect`
    as the DIRNet itself does."""
    return FastDIRNet(model, threads=torch.get_num_threads(), plan=plan)


@dataclass
class LoopTable:
    """Per-loop outputs of N samples and their labels; L = the model's max_loops.

    joints2d: (L, N, 21, 2) source-image px. joints3d: (L, N, 21, 3) mm, wrist-relative camera
    axes of the true hand (left hands mirrored back). mean_var: (L, N) float32 mean sigma^2 (the
    variance exit's statistic). gate_logits: (L, N, 2) float32 (EXIT, CONTINUE). gate_input:
    (L, N, fc_dim) float32 f = Psi_var1(h) per loop, the gate's input. gt2d: (N, 21, 2) source px, NaN where unlabelled.
    gt3d: (N, 21, 3) mm wrist-relative, NaN where unlabelled. crop256: (N,) source px -> crop-256 px.
    left: (N,) bool, a left hand.
    """

    joints2d: np.ndarray
    joints3d: np.ndarray
    mean_var: np.ndarray
    gate_logits: np.ndarray
    gate_input: np.ndarray
    gt2d: np.ndarray
    gt3d: np.ndarray
    crop256: np.ndarray
    left: np.ndarray

    @property
    def num_loops(self) -> int:
        return self.joints2d.shape[0]

    def __len__(self) -> int:
        return self.joints2d.shape[1]

    def views(self) -> np.ndarray:
        """(N,) "palm" or "back" (dirnet.data.splits.hand_view of the labels), "" without 2D labels."""
        return np.array([hand_view(g, "left" if l else "right") if np.isfinite(g[[0, 5, 17]]).all() else ""
                         for g, l in zip(self.gt2d, self.left)])

    def side_swapped(self, ratio: float = 0.7) -> np.ndarray:
        """(N,) bool: the last loop's 2D pose fits the labels better by `ratio` with thumb and
        little finger (index and ring) swapped, i.e. it read the hand from the wrong side."""
        pred, gt = self.joints2d[-1], self.gt2d
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            plain = np.nanmean(np.linalg.norm(pred - gt, axis=-1), -1)
            swapped = np.nanmean(np.linalg.norm(pred[:, list(SIDE_SWAP)] - gt, axis=-1), -1)
        return swapped < ratio * plain

    def errors(self) -> JointErrors:
        """Per-loop per-joint errors, each (L, N, 21)."""
        per_loop = [joint_errors(self.joints2d[l], self.gt2d, self.joints3d[l], self.gt3d,
                                 crop256_scale=self.crop256) for l in range(self.num_loops)]
        return JointErrors(*(np.stack([getattr(e, k) for e in per_loop])
                             for k in ("px", "crop256", "mm", "pa")))


@torch.no_grad()
def collect(model: StagedModel, source: EvalSource, batch_size: int = 32, desc: str = "evaluate",
            forward: Callable[[StagedModel, torch.Tensor], list[LoopOutput]] = forward_loops) -> LoopTable:
    """Run every loop of `model` (a DIRNet or FastDIRNet) once on every sample of `source` (tqdm).

    `forward` maps (model, images) to per-loop outputs with joints (default: `forward_loops`, every
    loop; studies pass e.g. a test-time augmentation of it, and the table holds what it returns).

    Raises:
        ValueError: the source yields no sample.
    """
    parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                          ("j2d", "j3d", "var", "gate", "feat", "gt2d", "gt3d", "s", "left")}
    with tqdm(total=len(source), desc=desc, unit="img", disable=None) as bar:
        for batch in source.batches(batch_size):
            images = torch.from_numpy(batch.images).to(model.device).permute(0, 3, 1, 2).float().div_(255.0)
            outputs = forward(model, images)
            # Network-input px -> source px (undoes the crop and any mirroring); mirror 3D back out.
            j2d = np.stack([o.joints2d.cpu().double().numpy() for o in outputs])
            linear, offset = batch.to_source[:, :, :2], batch.to_source[:, :, 2]
            parts["j2d"].append(np.einsum("bij,lbkj->lbki", linear, j2d) + offset[None, :, None, :])
            j3d = np.stack([o.joints3d.cpu().double().numpy() for o in outputs])
            j3d[..., 0] *= np.where(batch.left, -1.0, 1.0)[None, :, None]
            parts["j3d"].append(j3d)
            parts["var"].append(np.stack([mean_variance(o).cpu().numpy() for o in outputs]))
            parts["gate"].append(np.stack([o.gate_logits.cpu().numpy() for o in outputs]))
            parts["feat"].append(np.stack([o.gate_input.cpu().numpy() for o in outputs]))
            parts["gt2d"].append(batch.gt2d)
            parts["gt3d"].append(batch.gt3d)
            parts["s"].append(batch.crop256)
            parts["left"].append(batch.left)
            bar.update(len(batch.left))
    if not parts["s"]:
        raise ValueError(f"{source.name}: no usable sample")
    cat = {k: np.concatenate(v, axis=0 if k in ("gt2d", "gt3d", "s", "left") else 1) for k, v in parts.items()}
    return LoopTable(cat["j2d"], cat["j3d"], cat["var"], cat["gate"], cat["feat"], cat["gt2d"],
                     cat["gt3d"], cat["s"], cat["left"])


def policy_gflops(stage: StageFlops, loops: np.ndarray, mode: str) -> np.ndarray:
    """(N,) GFLOPs per sample for its loop count, as StageFlops.gflops (gate cost only in gate mode)."""
    costs = np.array([stage.gflops(k, gate=mode == "gate") for k in range(1, int(loops.max()) + 1)])
    return costs[loops - 1]


@dataclass
class SourceReport:
    """One checkpoint on one source.

    policy: the headline thresholds (tau_var, tau_gate, max_loops) used for the mode rows.
    policies: "loops_1".."loops_L" (fixed loop counts) and each requested exit mode at its tau.
    sweeps: "variance" -> [(tau_var, summary)], "gate" -> [(tau_gate, summary)].
    per_loop: "err2d" (L, N) per-sample mean crop-256 px error after each loop count, "err3d" (L, N)
        per-sample MPJPE mm, "pa" (L, N) per-sample PA-MPJPE mm.
    savings: per exit mode, GFLOPs saved and relative error increase against max loops.
    """

    name: str
    policy: ExitPolicy
    policies: dict[str, EvalSummary]
    sweeps: dict[str, list[tuple[float, EvalSummary]]]
    per_loop: dict[str, np.ndarray]
    savings: dict[str, dict[str, float]]
    chosen: dict[str, JointErrors] = field(default_factory=dict)  # policy -> (N, 21), for PCK plots

    def to_dict(self) -> dict:
        with warnings.catch_warnings():  # a source without 3D labels has all-NaN 3D rows
            warnings.simplefilter("ignore", RuntimeWarning)
            medians = {k: np.nanmedian(v, axis=1).tolist() for k, v in self.per_loop.items()}
        return {
            "tau_var": self.policy.tau_var, "tau_gate": self.policy.tau_gate,
            "max_loops": self.policy.max_loops,
            "policies": {k: v.to_dict() for k, v in self.policies.items()},
            "sweeps": {k: [{"tau": t, **s.to_dict()} for t, s in v] for k, v in self.sweeps.items()},
            "per_loop_median": medians,
            "savings": self.savings,
        }


def policy_summary(table: LoopTable, errors: JointErrors, stage: StageFlops, policy: ExitPolicy
                   ) -> tuple[EvalSummary, JointErrors]:
    """EvalSummary of one exit policy and the (N, 21) errors of the joints it returns.

    Args:
        table: collected outputs. errors: table.errors(), (L, N, 21). stage: the model's FLOPs.
        policy: a deterministic exit policy.
    """
    loops = exit_loops(policy, table.mean_var, table.gate_logits)
    chosen = errors.take(loops - 1)
    return summarize_errors(chosen, loops, policy_gflops(stage, loops, policy.exit_mode)), chosen


def sample_means(errors: np.ndarray) -> np.ndarray:
    """Mean over the last (joint) axis ignoring NaN; NaN for unlabelled samples, without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(errors, -1)


def _relative(a: float, b: float) -> float:
    return float(a / b - 1.0) if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def evaluate_table(name: str, table: LoopTable, stage: StageFlops, policy: ExitPolicy,
                   exit_modes: tuple[str, ...] = EXIT_MODES) -> SourceReport:
    """Every policy, both sweeps and the per-loop error distributions from one LoopTable.

    Args:
        name: the source's name.
        table: collected outputs.
        stage: FLOPs of the model's stages.
        policy: thresholds for the headline rows (tau_var, tau_gate, max_loops).
        exit_modes: exit modes reported as headline rows.
    """
    errors = table.errors()
    max_loops = min(policy.max_loops, table.num_loops)
    policies, chosen = {}, {}
    for k in range(1, max_loops + 1):
        policies[f"loops_{k}"], chosen[f"loops_{k}"] = policy_summary(
            table, errors, stage, replace(policy, exit_mode="none", max_loops=k))
    for mode in exit_modes:
        policies[mode], chosen[mode] = policy_summary(table, errors, stage, replace(policy, exit_mode=mode))
    variances = table.mean_var[:max(max_loops - 1, 1)].ravel()
    taus_var = sorted(set(np.quantile(variances, TAU_VAR_QUANTILES).astype(float) * (1 + 1e-6))
                      | {policy.tau_var})
    sweeps = {
        "variance": [(t, policy_summary(table, errors, stage, replace(policy, exit_mode="variance", tau_var=t))[0])
                     for t in taus_var],
        "gate": [(t, policy_summary(table, errors, stage, replace(policy, exit_mode="gate", tau_gate=t))[0])
                 for t in sorted(set(TAU_GATE_SWEEP) | {policy.tau_gate})],
    }
    full = policies[f"loops_{max_loops}"]
    savings = {mode: {"gflops_saving": 1.0 - policies[mode].mean_gflops / full.mean_gflops,
                      "err2d_increase": _relative(policies[mode].err2d_mean, full.err2d_mean),
                      "mpjpe_increase": _relative(policies[mode].mpjpe, full.mpjpe),
                      "pa_mpjpe_increase": _relative(policies[mode].pa_mpjpe, full.pa_mpjpe)}
               for mode in exit_modes if mode != "none"}
    per_loop = {"err2d": sample_means(errors.crop256), "err3d": sample_means(errors.mm),
                "pa": sample_means(errors.pa)}
    return SourceReport(name, policy, policies, sweeps, per_loop, savings, chosen)
