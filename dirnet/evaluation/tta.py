"""Test-time rotation averaging: the network on turned copies of each crop, its joints turned back
and averaged (`tools/tta_study.py` measures it; docs/GENERALISATION.md has the figures).

A copy turned by `a` degrees is the crop that `dirnet.crop.crop_matrix` cuts with rotation `a`
(clockwise on screen for positive angles), so its joints come back by the inverse of the same turn:
2D about the crop centre, 3D about the view axis (`crop_rotation_3d`).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as F

from ..crop import crop_rotation_3d
from ..models.staged import LoopOutput, StagedModel, forward_loops

__all__ = ["turn", "rotation_average"]


def turn(images: torch.Tensor, degrees: float) -> torch.Tensor:
    """(B, 3, R, R) crops turned about their centre as `crop_matrix` turns content (clockwise on
    screen for positive angles); corners from outside the crop are black, as training's crops."""
    a = np.deg2rad(degrees)
    # grid_sample reads, for each output pixel, the input at R(-a) (output - centre) + centre; with
    # align_corners=True the centre (R-1)/2 is 0 in normalised units, so the map is R(-a) itself.
    inverse = torch.tensor([[np.cos(a), np.sin(a), 0.0], [-np.sin(a), np.cos(a), 0.0]], dtype=images.dtype,
                           device=images.device)
    grid = F.affine_grid(inverse.expand(len(images), 2, 3), list(images.shape), align_corners=True)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def rotation_average(model: StagedModel, images: torch.Tensor, angles: tuple[float, ...]) -> list[LoopOutput]:
    """The last loop's joints averaged over copies of `images` turned by `angles` (one LoopOutput;
    its other fields, variances and gate included, are those of the first view)."""
    centre = (images.shape[-1] - 1) / 2.0
    joints2d, joints3d, first = [], [], None
    for degrees in angles:
        out = forward_loops(model, turn(images, degrees))[-1]
        first = out if first is None else first
        back = crop_rotation_3d(np.deg2rad(degrees))  # x_turned = back @ x, so x = back.T @ x_turned
        joints2d.append((out.joints2d.double().cpu().numpy() - centre) @ back[:2, :2] + centre)
        joints3d.append(out.joints3d.double().cpu().numpy() @ back)
    return [replace(first, joints2d=torch.from_numpy(np.mean(joints2d, 0)),
                    joints3d=torch.from_numpy(np.mean(joints3d, 0)))]
