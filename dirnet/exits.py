"""Dynamic exits (Sec. 4): run the refiner until each sample's policy says stop.

Exits are decided per sample: a sample that exits leaves the batch, so it stops costing compute.
The rule itself is one function, `exit_decision`: `run_with_exits` applies it while the model runs,
`exit_loops` replays it on recorded per-loop outputs (evaluation sweeps, gate training). The
policy's parameters, ExitPolicy, live in exit_policy, which imports no torch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .exit_policy import ExitPolicy
from .models.staged import LoopOutput, StagedModel, with_joints, with_mesh

__all__ = ["ExitResult", "exit_probability", "mean_variance", "exit_decision", "run_with_exits", "exit_loops"]


@dataclass
class ExitResult:
    """Outputs of a batch run with exits.

    final: the last executed loop's LoopOutput for every sample, with its joints and vertices.
    loops: (B,) int64 refiner passes each sample ran.
    joints2d, joints3d, alpha2d, alpha3d: (L, B, 21, D) per loop, NaN after a sample exited.
    exit_prob: (L, B) the gate's EXIT probability at tau_gate (NaN after exit).
    """

    final: LoopOutput
    loops: torch.Tensor
    joints2d: torch.Tensor
    joints3d: torch.Tensor
    alpha2d: torch.Tensor
    alpha3d: torch.Tensor
    exit_prob: torch.Tensor


def exit_probability(gate_logits: torch.Tensor, tau_gate: float) -> torch.Tensor:
    """P(EXIT) under the temperature softmax over (EXIT, CONTINUE). (B, 2) -> (B,)."""
    return torch.softmax(gate_logits / tau_gate, dim=-1)[:, 0]


def mean_variance(out: LoopOutput) -> torch.Tensor:
    """(B,) mean sigma^2 over all 2D and 3D joint coordinates."""
    return torch.cat((out.alpha2d.flatten(1), out.alpha3d.flatten(1)), 1).exp().mean(1)


def exit_decision(policy: ExitPolicy, loop: int, max_loops: int, mean_var: torch.Tensor,
                  p_exit: torch.Tensor | None, survival: torch.Tensor,
                  generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Which samples stop after refiner pass `loop`: the exit rule of every ExitPolicy.

    "none" stops at the last pass; "variance" at the first pass whose mean variance is below
    tau_var; "gate" at the first pass where the survival probability prod(1 - P(EXIT)) is <= 1/2,
    or, with policy.sample, where a draw from P(EXIT) says so. The last pass always stops.

    Args:
        policy: the exit rule.
        loop: 0-based index of the pass just run.
        max_loops: passes available (policy.max_loops capped by the model's).
        mean_var: (B,) float32 mean sigma^2 of this pass (`mean_variance`).
        p_exit: (B,) float32 P(EXIT) of this pass at policy.tau_gate (`exit_probability`); only the
            gate rule reads it.
        survival: (B,) float32 probability of not having exited before this pass (1 at loop 0).
        generator: random source when policy.sample is set.
    Returns:
        (done (B,) bool, survival (B,) after this pass).
    """
    if policy.exit_mode == "gate":
        survival = survival * (1 - p_exit)
    if loop >= max_loops - 1 or policy.exit_mode == "none":
        done = torch.full_like(mean_var, loop >= max_loops - 1, dtype=torch.bool)
    elif policy.exit_mode == "variance":
        done = mean_var < policy.tau_var
    elif policy.sample:
        done = torch.bernoulli(p_exit, generator=generator).bool()
    else:
        done = survival <= 0.5
    return done, survival


@torch.no_grad()
def run_with_exits(model: StagedModel, images: torch.Tensor, policy: ExitPolicy,
                   generator: torch.Generator | None = None) -> ExitResult:
    """Inference with per-sample dynamic exits.

    Every loop runs only the heads' regressors, which the exit decision reads. After the last loop
    the hand model poses the joints of every loop run, all in one call (`with_joints`), and makes
    the mesh of the loop each sample exits at, in one call for the whole batch (`with_mesh`).

    Args:
        model: a staged model (a DIRNet in eval mode, or a FastDIRNet).
        images: (B, 3, R, R) float RGB in [0, 1].
        policy: exit rule and thresholds; policy.max_loops is capped by the model's max_loops.
        generator: random source when policy.sample is set.
    """
    max_loops = min(policy.max_loops, model.cfg.max_loops)
    features = model.forward_features(images)
    batch = images.shape[0]
    active = torch.arange(batch, device=images.device)
    survival = torch.ones(batch, device=images.device)  # of the active samples
    loops = torch.zeros(batch, dtype=torch.long, device=images.device)
    # Per loop run: its outputs, P(EXIT), the batch indices it ran on, and the samples that exited
    # there (batch indices, and rows of its outputs; None: all of them).
    outputs: list[LoopOutput] = []
    p_exits: list[torch.Tensor] = []
    actives: list[torch.Tensor] = []
    exits: list[tuple[int, torch.Tensor, torch.Tensor | None]] = []
    attention = None
    for loop in range(max_loops):
        # While no sample has exited (always, at batch 1) the batch is used as is: index copies
        # are a noticeable part of a crop's time at batch 1 on a small CPU.
        everyone = active.numel() == batch
        refined = model.forward_refine(features if everyone else features[active], loop, attention)
        out = model.forward_head(refined)
        p_exit = exit_probability(out.gate_logits, policy.tau_gate)
        outputs.append(out)
        p_exits.append(p_exit)
        actives.append(active)
        loops[active] = loop + 1

        done, survival = exit_decision(policy, loop, max_loops, mean_variance(out), p_exit, survival,
                                       generator)
        exited = int(done.sum())
        if exited == done.numel():
            exits.append((loop, active, None))
            break
        if exited:
            exits.append((loop, active[done], done))
        keep = ~done
        active, survival = active[keep], survival[keep]
        attention = model.attention(refined[keep])

    outputs = with_joints(model, outputs)
    finals = [(idx, outputs[loop] if rows is None else outputs[loop].index(rows)) for loop, idx, rows in exits]
    final = with_mesh(model, _merge_exits(finals, batch))
    trace = {key: torch.stack([_scatter(getattr(out, key), active, batch) for out, active in zip(outputs, actives)])
             for key in ("joints2d", "joints3d", "alpha2d", "alpha3d")}
    exit_prob = torch.stack([_scatter(p, active, batch) for p, active in zip(p_exits, actives)])
    return ExitResult(final=final, loops=loops, exit_prob=exit_prob, **trace)


def _scatter(value: torch.Tensor, active: torch.Tensor, batch: int) -> torch.Tensor:
    """(batch, ...) with `value`'s rows at the batch indices `active` and NaN elsewhere (`value`
    itself when every sample is active)."""
    if active.numel() == batch:
        return value
    full = value.new_full((batch,) + value.shape[1:], float("nan"))
    full[active] = value
    return full


def _merge_exits(finals: list[tuple[torch.Tensor, LoopOutput]], batch: int) -> LoopOutput:
    """One LoopOutput in batch order from the outputs of the samples that exited at each loop.

    Args:
        finals: (batch indices, their LoopOutput at the loop they exited at), in exit order.
        batch: the batch size; every sample is in exactly one entry.
    """
    if len(finals) == 1 and finals[0][0].numel() == batch:  # every sample exited together
        return finals[0][1]
    order = torch.cat([idx for idx, _ in finals])
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel(), device=order.device)
    return LoopOutput.cat([out for _, out in finals]).index(inverse)


def exit_loops(policy: ExitPolicy, mean_var: np.ndarray, gate_logits: np.ndarray | None = None
               ) -> np.ndarray:
    """Refiner passes each sample runs under `policy`, replayed from recorded per-loop outputs.

    Applies `exit_decision` pass by pass, as `run_with_exits` does, so the loop counts are those
    run_with_exits gives on the same outputs. Gate sampling is random and is not replayed.

    Args:
        policy: the exit rule (max_loops is capped by L).
        mean_var: (L, N) float32 mean sigma^2 per loop (`mean_variance`).
        gate_logits: (L, N, 2) float32 gate logits per loop (needed in gate mode only).
    Returns:
        (N,) int64 loop counts in 1..min(policy.max_loops, L).
    Raises:
        ValueError: a sampling policy, or gate mode without logits.
    """
    if policy.sample:
        raise ValueError("sampled gate exits are random; only the deterministic policy is replayed")
    if policy.exit_mode == "gate" and gate_logits is None:
        raise ValueError("gate exits need the gate logits")
    max_loops, n = min(policy.max_loops, mean_var.shape[0]), mean_var.shape[1]
    loops = np.zeros(n, dtype=np.int64)
    survival = torch.ones(n)
    for loop in range(max_loops):
        p_exit = None if gate_logits is None else exit_probability(
            torch.from_numpy(np.asarray(gate_logits[loop], dtype=np.float32)), policy.tau_gate)
        done, survival = exit_decision(policy, loop, max_loops,
                                       torch.from_numpy(np.asarray(mean_var[loop], dtype=np.float32)),
                                       p_exit, survival)
        loops[(loops == 0) & done.numpy()] = loop + 1
    return loops
