"""Random hand poses, shapes, views and cameras for the synthetic renderer (pure batched functions).

Poses are drawn in the hand model's anatomical joint angles ([flexion, abduction, twist] per joint,
MANO joint order, radians about the rest pose, see `dirnet.hand.poses`) and clipped to its limits.
Every function takes a `torch.Generator` living on the device the result should be on.
"""
from __future__ import annotations

import math

import torch

__all__ = ["sample_angles", "sample_shape", "sample_orientation", "sample_intrinsics", "place_hand",
           "axis_rotation", "project", "GESTURE_NAMES"]

# Gestures the sampler jitters around (names of `dirnet.hand.poses.gesture_angles`).
GESTURE_NAMES: tuple[str, ...] = ("open_palm", "fist", "point", "pinch", "thumbs_up", "victory")

_DEG = math.pi / 180.0
_FINGER_ROWS = ((0, 1, 2), (3, 4, 5), (9, 10, 11), (6, 7, 8))  # index, middle, ring, pinky (MANO)
_THUMB_ROWS = (12, 13, 14)
# Abduction (degrees) of each finger at full spread: index towards the thumb, the others away.
_SPREAD = (14.0, 2.0, -9.0, -18.0)
_MIN_DEPTH = 60.0  # mm between the camera and the nearest point of a placed hand


def _rand(shape, gen: torch.Generator, device, lo: float = 0.0, hi: float = 1.0) -> torch.Tensor:
    return torch.rand(shape, generator=gen, device=device) * (hi - lo) + lo


def _randn(shape, gen: torch.Generator, device, std: float = 1.0) -> torch.Tensor:
    return torch.randn(shape, generator=gen, device=device) * std


def _curl(n: int, gen: torch.Generator, device) -> torch.Tensor:
    """(n, 4) per-finger curl in [0, 1]: a shared hand curl plus per-finger freedom.

    Straight and fully curled fingers are over-represented, as in real gestures; the ring finger is
    pulled towards its neighbours because it cannot move independently.
    """
    mode = _rand((n, 1), gen, device)
    hand = torch.where(mode < 0.3, _rand((n, 1), gen, device, 0.0, 0.15),
                       torch.where(mode < 0.55, _rand((n, 1), gen, device, 0.8, 1.0),
                                   _rand((n, 1), gen, device)))
    own = torch.where(_rand((n, 4), gen, device) < 0.5, _rand((n, 4), gen, device).round(),
                      _rand((n, 4), gen, device))
    mix = _rand((n, 1), gen, device, 0.3, 1.0)
    curl = mix * hand + (1 - mix) * own
    curl[:, 2] = 0.5 * curl[:, 2] + 0.25 * (curl[:, 1] + curl[:, 3])
    return curl


def _free_angles(n: int, limits: torch.Tensor, rest_flex: torch.Tensor, gen: torch.Generator
                 ) -> torch.Tensor:
    """(n, 15, 3) flexion-heavy random angles with coupled joints, before clipping."""
    device = limits.device
    lo, hi = limits[..., 0], limits[..., 1]  # (15, 3)
    angles = torch.zeros(n, 15, 3, device=device)
    curl = _curl(n, gen, device)
    spread = _rand((n, 1), gen, device, -0.2, 1.0)
    # A finger's straight position is minus its rest curl; curl 1 reaches the flexion limit.
    straight = (-rest_flex).clamp(min=lo[:, 0], max=hi[:, 0])
    for finger, rows in enumerate(_FINGER_ROWS):
        mcp, pip, dip = rows
        c = curl[:, finger]
        f_mcp = c + _randn(n, gen, device, 0.15)
        f_pip = c + _randn(n, gen, device, 0.12)
        f_dip = 0.8 * f_pip + _randn(n, gen, device, 0.08)  # DIP follows PIP (shared tendon)
        for row, frac in ((mcp, f_mcp), (pip, f_pip), (dip, f_dip)):
            angles[:, row, 0] = straight[row] + frac * (hi[row, 0] - straight[row])
        # Fingers spread less when curled (collateral ligaments tighten in flexion).
        abd = (spread[:, 0] * _SPREAD[finger] * _DEG) * (1 - 0.7 * f_mcp.clamp(0, 1))
        angles[:, mcp, 1] = abd + _randn(n, gen, device, 3 * _DEG)
    thumb_curl = _rand(n, gen, device)
    cmc, t_mcp, t_ip = _THUMB_ROWS
    angles[:, cmc, 0] = _rand(n, gen, device, lo[cmc, 0], hi[cmc, 0])
    angles[:, cmc, 1] = _rand(n, gen, device, lo[cmc, 1], hi[cmc, 1]) * 0.8
    # Opposition: flexing the thumb across the palm pronates it.
    angles[:, cmc, 2] = angles[:, cmc, 0] * 0.3 + _randn(n, gen, device, 6 * _DEG)
    for row, noise in ((t_mcp, 0.12), (t_ip, 0.15)):
        frac = thumb_curl + _randn(n, gen, device, noise)
        angles[:, row, 0] = lo[row, 0] + frac * (hi[row, 0] - lo[row, 0])
    twist_std = 0.3 * (hi[:, 2] - lo[:, 2]) / 2
    angles[:, :, 2] += _randn((n, 15), gen, device) * twist_std * (angles[:, :, 2] == 0)
    abd_rows = [r for rows in _FINGER_ROWS for r in rows[1:]] + [t_mcp, t_ip]
    angles[:, abd_rows, 1] = _randn((n, len(abd_rows)), gen, device) * (hi[abd_rows, 1] * 0.4)
    return angles


def sample_angles(n: int, limits: torch.Tensor, rest_flex: torch.Tensor, gestures: torch.Tensor,
                  gen: torch.Generator, gesture_prob: float = 0.3) -> torch.Tensor:
    """Anatomically plausible random hand poses as joint angles.

    Args:
        n: number of poses.
        limits: (15, 3, 2) radians [flexion, abduction, twist] x [low, high] about the rest pose.
        rest_flex: (15,) radians of flexion of the rest pose (zeros for a flat rest pose).
        gestures: (G, 15, 3) radians of the named gestures to jitter around.
        gen: random generator on the device of `limits`.
        gesture_prob: share of poses drawn near a gesture instead of freely.

    Returns:
        (n, 15, 3) float32 radians within `limits`.
    """
    device = limits.device
    angles = _free_angles(n, limits, rest_flex, gen)
    pick = torch.randint(0, gestures.shape[0], (n,), generator=gen, device=device)
    jitter = _randn((n, 15, 3), gen, device) * torch.tensor([8.0, 4.0, 3.0], device=device) * _DEG
    near = _rand((n, 1, 1), gen, device) < gesture_prob
    angles = torch.where(near, gestures[pick] + jitter, angles)
    return torch.maximum(torch.minimum(angles, limits[..., 1]), limits[..., 0])


def sample_shape(n: int, model_name: str, num_shape: int, gen: torch.Generator,
                 device: torch.device) -> torch.Tensor:
    """Random hand shapes.

    Args:
        n: number of shapes.
        model_name: "open" (log-scale, finger length, palm width, thickness; see
            `dirnet.hand.open_hand`) or "mano" (PCA betas).
        num_shape: length of the shape vector.
        gen: random generator on `device`.
        device: where the result lives.

    Returns:
        (n, num_shape) float32.
    """
    if model_name == "open":
        std = torch.tensor([0.08, 0.07, 0.07, 0.1], device=device)[:num_shape]
        return (_randn((n, num_shape), gen, device) * std).clamp(-0.25, 0.25)
    return _randn((n, num_shape), gen, device).clamp(-2.5, 2.5)


def axis_rotation(angle: torch.Tensor, axis: int) -> torch.Tensor:
    """Rotations about one coordinate axis.

    Args:
        angle: (n,) radians (right-handed about the axis).
        axis: 0, 1 or 2 for x, y, z.

    Returns:
        (n, 3, 3) rotation matrices.
    """
    c, s = torch.cos(angle), torch.sin(angle)
    i, j = [a for a in range(3) if a != axis]
    rot = torch.zeros(angle.shape[0], 3, 3, device=angle.device)
    rot[:, axis, axis] = 1
    rot[:, i, i], rot[:, i, j], rot[:, j, i], rot[:, j, j] = c, -s, s, c
    return rot


def sample_orientation(n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Global hand rotations: mostly palm or back towards the camera, any in-plane roll.

    Args:
        n: number of rotations.
        gen: random generator on `device`.
        device: where the result lives.

    Returns:
        (n, 3, 3) rotations taking the canonical frame (fingers up, palm to the camera) to camera axes.
    """
    face = _rand(n, gen, device)
    yaw = _randn(n, gen, device, 30 * _DEG)
    yaw = torch.where(face < 0.45, yaw, torch.where(face < 0.85, yaw + math.pi,
                                                    _rand(n, gen, device, -math.pi, math.pi)))
    pitch = _randn(n, gen, device, 25 * _DEG).clamp(-75 * _DEG, 75 * _DEG)
    roll = _rand(n, gen, device, -math.pi, math.pi)
    return axis_rotation(roll, 2) @ axis_rotation(pitch, 0) @ axis_rotation(yaw, 1)


def sample_intrinsics(n: int, res: int, gen: torch.Generator, device: torch.device) -> torch.Tensor:
    """Pinhole intrinsics of a crop cut anywhere from a wider camera image.

    The focal length (1.2-5 crop widths, log-uniform) covers a hand crop taken from a webcam or
    phone frame; the principal point sits off the crop centre as it does for such crops.

    Returns:
        (n, 3, 3) float32 K in crop pixels (pixel centres at integers).
    """
    focal = res * torch.exp(_rand(n, gen, device, math.log(1.2), math.log(5.0)))
    centre = (res - 1) / 2 + (_randn((n, 2), gen, device, 0.25 * res)).clamp(-0.6 * res, 0.6 * res)
    K = torch.zeros(n, 3, 3, device=device)
    K[:, 0, 0] = K[:, 1, 1] = focal
    K[:, :2, 2] = centre
    K[:, 2, 2] = 1
    return K


def project(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Pinhole projection.

    Args:
        points: (B, N, 3) camera-frame points, z > 0.
        K: (B, 3, 3) intrinsics (no skew).

    Returns:
        (B, N, 2) pixel coordinates.
    """
    return points[..., :2] / points[..., 2:] * K[:, None, [0, 1], [0, 1]] + K[:, None, :2, 2]


def place_hand(points: torch.Tensor, K: torch.Tensor, centre: torch.Tensor, size: torch.Tensor,
               iterations: int = 3) -> torch.Tensor:
    """Translation that puts a posed hand's 2D bounding box at a given centre and size.

    Args:
        points: (B, N, 3) mm, the hand's vertices in camera axes about the wrist.
        K: (B, 3, 3) intrinsics, crop pixels.
        centre: (B, 2) target centre of the projected bounding box, crop pixels.
        size: (B,) target longer side of the projected bounding box, crop pixels.
        iterations: refinement passes (perspective makes the first guess approximate).

    Returns:
        (B, 3) translation in mm; points + translation[:, None] is the placed hand.
    """
    focal = K[:, 0, 0, None]
    lo, hi = points.amin(1), points.amax(1)
    mid = (hi + lo) / 2

    def translation(aim: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        # Put the box middle at `depth` on the ray through pixel `aim`.
        xy = (aim - K[:, :2, 2]) * depth / focal - mid[:, :2]
        return torch.cat([xy, depth - mid[:, 2:]], 1)

    aim = centre.clone()
    depth = focal * (hi - lo)[:, :2].amax(1, keepdim=True) / size[:, None]
    for _ in range(iterations):
        uv = project(points + translation(aim, depth)[:, None], K)
        box_lo, box_hi = uv.amin(1), uv.amax(1)
        aim = aim + centre - (box_lo + box_hi) / 2
        depth = depth * (box_hi - box_lo).amax(1, keepdim=True) / size[:, None]
        depth = torch.maximum(depth, mid[:, 2:] - lo[:, 2:] + _MIN_DEPTH)
    return translation(aim, depth)
