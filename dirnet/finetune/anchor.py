"""Learning without forgetting (Li & Hoiem, TPAMI 2017): the starting model's own outputs are extra
targets of a fine-tune, its 2D on the renders of each batch and its 3D on every crop.

Fitting one person's recorded poses moves the 3D the model gives other people's hands (their
fingers fold like the recorded ones), and neither the renders' exact labels nor the weight of
MediaPipe's 3D labels holds it; the starting model's 3D does (docs/FINETUNE.md, measured). On the
user's crops its 2D is what the fine-tune is there to correct, so only the renders keep their 2D.
"""
from __future__ import annotations

import copy
from typing import Callable

import torch

from ..models.dirnet import DIRNet
from ..models.staged import LoopOutput
from ..training.losses import LossTargets, LossWeights, loop_loss

__all__ = ["anchor_loss", "make_anchor"]


def anchor_loss(outputs: list[LoopOutput], reference: list[LoopOutput], rows_2d: slice, input_res: int,
                weights: LossWeights = LossWeights()) -> torch.Tensor:
    """Sum over loops of the pose losses (dirnet.training.losses, same units and weights) of
    `outputs` against `reference`, loop for loop: 3D on every row, 2D on the rows `rows_2d`."""
    batch = outputs[0].joints2d.shape[0]
    has2d = torch.zeros(batch, device=outputs[0].joints2d.device)
    has2d[rows_2d] = 1.0
    has3d = torch.ones_like(has2d)
    total = outputs[0].joints2d.new_zeros(())
    for out, ref in zip(outputs, reference):
        terms = loop_loss(out, LossTargets(ref.joints2d, ref.joints3d, has2d, has3d), input_res, weights)
        total = total + weights.gamma_2d * terms["l2d"] + weights.gamma_3d * terms["l3d"]
    return total


def make_anchor(start: DIRNet, render_rows: slice, weight: float
                ) -> Callable[[torch.Tensor, list[LoopOutput]], torch.Tensor]:
    """The extra loss of a fine-tune step (dirnet.training.loop.train_step's `extra`): `weight` times
    `anchor_loss` (2D on `render_rows`) against a frozen copy of `start`, taken now."""
    frozen = copy.deepcopy(start).eval().requires_grad_(False)

    def extra(images: torch.Tensor, outputs: list[LoopOutput]) -> torch.Tensor:
        with torch.no_grad():
            reference = frozen(images, len(outputs))
        return weight * anchor_loss(outputs, reference, render_rows, start.cfg.input_res)

    return extra
