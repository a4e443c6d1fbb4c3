"""Pure geometry functions on batched tensors/arrays: rotations, projection, alignment, mirroring."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["rot6d_to_matrix", "weak_perspective", "procrustes_align", "mirror_points2d", "mirror_points3d"]


def rot6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """Continuous 6D rotation (Zhou et al., CVPR 2019) to rotation matrices.

    Args:
        x: (B, 6) two 3-vectors, orthonormalised by Gram-Schmidt into the first two columns.
    Returns:
        (B, 3, 3) rotation matrices in SO(3).
    """
    a1, a2 = x[:, :3], x[:, 3:]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def weak_perspective(joints: torch.Tensor, scale: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
    """Paper Eq. 2: J2D = s * Pi(R J) + t, with R already applied to `joints`.

    Args:
        joints: (B, N, 3) millimetres, camera axes.
        scale: (B,) pixels per millimetre.
        trans: (B, 2) pixels.
    Returns:
        (B, N, 2) pixels.
    """
    return scale[:, None, None] * joints[..., :2] + trans[:, None, :]


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Align pred to gt by the similarity transform minimising squared error (FreiHAND's procedure).

    Args:
        pred, gt: (..., N, 3) point sets.
    Returns:
        (..., N, 3) pred after optimal scale, rotation and translation.
    """
    mu_p, mu_g = pred.mean(-2, keepdims=True), gt.mean(-2, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    u, s, vt = np.linalg.svd(np.swapaxes(p, -1, -2) @ g)
    # Flip the last singular direction when needed so the result is a rotation, not a reflection.
    d = np.sign(np.linalg.det(u @ vt))
    s = s.copy()
    s[..., -1] *= d
    u = u.copy()
    u[..., :, -1] *= d[..., None]
    rot = u @ vt
    scale = s.sum(-1) / (p**2).sum((-1, -2))
    return scale[..., None, None] * (p @ rot) + mu_g


def mirror_points2d(points, width: int):
    """Horizontal flip of pixel coordinates in an image `width` px wide (pixel centres at integers)."""
    out = points.copy() if isinstance(points, np.ndarray) else points.clone()
    out[..., 0] = (width - 1) - out[..., 0]
    return out


def mirror_points3d(points):
    """Mirror 3D camera-frame points through the x = 0 plane (right hand <-> left hand)."""
    out = points.copy() if isinstance(points, np.ndarray) else points.clone()
    out[..., 0] = -out[..., 0]
    return out
