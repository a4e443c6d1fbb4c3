"""Training losses: L2D, L3D (Eq. 3), variance KL losses (Eqs. 8-9), regularisers, Ltotal (Eq. 12).

Units: 2D errors in pixels of a 224 px crop (so weights do not change with input resolution),
3D errors in millimetres on wrist-relative joints. Every term is masked per sample (a sample may
carry only 2D or only 3D labels) and per joint.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..models.dirnet import REFERENCE_RES
from ..models.staged import LoopOutput

__all__ = ["LossWeights", "LossTargets", "loop_loss", "total_loss", "position_loss"]


@dataclass(frozen=True)
class LossWeights:
    gamma_2d: float = 1.0  # per 224-px pixel of smooth-L1 error
    gamma_3d: float = 0.01  # per mm^2 of squared error: 10 mm off costs like 1 px
    gamma_var: float = 0.1  # uncertainty terms; small so they never dominate pose learning
    pose_reg: float = 1e-3  # keeps axis-angles small where labels do not constrain them
    shape_reg: float = 1e-3
    smooth_l1: bool = True  # L1 otherwise (the paper's L2D)
    heatmap: float = 0.0  # the auxiliary heatmap probe's L2D (dirnet.training.heatmap); 0: off


@dataclass
class LossTargets:
    """Labels of a batch. joints2d: (B, 21, 2) px of the network input; joints3d: (B, 21, 3) mm,
    camera axes (made wrist-relative here); has2d/has3d: (B,) 0/1; joint_mask: (B, 21) or None."""

    joints2d: torch.Tensor
    joints3d: torch.Tensor
    has2d: torch.Tensor
    has3d: torch.Tensor
    joint_mask: torch.Tensor | None = None


def _masked_mean(per_joint: torch.Tensor, sample_mask: torch.Tensor, joint_mask: torch.Tensor | None):
    """Mean over (sample, joint, coord) entries allowed by the masks; 0 when nothing is labelled."""
    mask = sample_mask[:, None, None].expand_as(per_joint)
    if joint_mask is not None:
        mask = mask * joint_mask[:, :, None]
    return (per_joint * mask).sum() / mask.sum().clamp_min(1.0)


def _var_loss_2d(err: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Eq. 9 for smooth-L1 regression, with its Gaussian (quadratic) branch below 1 px."""
    a = err.abs()
    core = torch.where(a >= 1.0, a - 0.5, 0.5 * a * a)
    return torch.exp(-alpha) * core + 0.5 * alpha


def _regression_2d(err2d: torch.Tensor, weights: LossWeights) -> torch.Tensor:
    return F.smooth_l1_loss(err2d, torch.zeros_like(err2d), reduction="none") if weights.smooth_l1 \
        else err2d.abs()


def position_loss(joints2d: torch.Tensor, target: LossTargets, input_res: int,
                  weights: LossWeights = LossWeights()) -> torch.Tensor:
    """L2D of any (B, 21, 2) positions in input px (e.g. the heatmap probe's), as `loop_loss`'s."""
    err2d = (joints2d - target.joints2d) * (REFERENCE_RES / input_res)
    return _masked_mean(_regression_2d(err2d, weights), target.has2d, target.joint_mask)


def loop_loss(out: LoopOutput, target: LossTargets, input_res: int,
              weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """All loss terms of one loop, each a scalar."""
    err2d = (out.joints2d - target.joints2d) * (REFERENCE_RES / input_res)
    gt3d = target.joints3d - target.joints3d[:, :1]
    err3d = out.joints3d - gt3d
    reg2d = _regression_2d(err2d, weights)
    alpha2d, alpha3d = out.alpha2d.clamp(-10, 12), out.alpha3d.clamp(-10, 14)
    # The variance losses see detached errors: they calibrate sigma without re-weighting the pose.
    var2d = _var_loss_2d(err2d.detach(), alpha2d)
    var3d = 0.5 * torch.exp(-alpha3d) * err3d.detach() ** 2 + 0.5 * alpha3d
    terms = {
        "l2d": _masked_mean(reg2d, target.has2d, target.joint_mask),
        "l3d": _masked_mean(err3d**2, target.has3d, target.joint_mask),
        "var2d": _masked_mean(var2d, target.has2d, target.joint_mask),
        "var3d": _masked_mean(var3d, target.has3d, target.joint_mask),
        "pose_reg": (out.pose**2).mean(),
        "shape_reg": (out.shape**2).mean(),
    }
    terms["total"] = (weights.gamma_2d * terms["l2d"] + weights.gamma_3d * terms["l3d"]
                      + weights.gamma_var * (terms["var2d"] + terms["var3d"])
                      + weights.pose_reg * terms["pose_reg"] + weights.shape_reg * terms["shape_reg"])
    return terms


def total_loss(outputs: list[LoopOutput], target: LossTargets, input_res: int,
               weights: LossWeights = LossWeights()) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """Ltotal (Eq. 12): the sum over loops of each loop's weighted terms. Returns (loss, per-loop terms)."""
    per_loop = [loop_loss(o, target, input_res, weights) for o in outputs]
    return torch.stack([t["total"] for t in per_loop]).sum(), per_loop
