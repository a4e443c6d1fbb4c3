"""Linear blend skinning and rotation helpers: pure batched torch functions, no state.

Follows the shape of smplx's ``lbs.py`` (https://github.com/vchoutas/smplx): joints are posed down a
kinematic tree by ``batch_rigid_transform`` and every vertex is moved by the weighted sum of its
joints' rigid transforms. Units are whatever the inputs use (the hand models use millimetres).
"""
from __future__ import annotations

import functools
from typing import Sequence

import torch
import torch.nn.functional as F

__all__ = [
    "batch_rodrigues", "batch_rigid_transform", "bone_transforms", "blend_skinning", "lbs",
    "axis_angle_to_quaternion", "quaternion_multiply", "quaternion_to_axis_angle",
    "angles_to_axis_angle",
]


# (3, 9): a vector v times it is the row-major 3x3 matrix [v]_x with [v]_x u = v x u.
_SKEW = torch.tensor([[0., 0., 0., 0., 0., -1., 0., 1., 0.],
                      [0., 0., 1., 0., 0., 0., -1., 0., 0.],
                      [0., -1., 0., 1., 0., 0., 0., 0., 0.]])


def batch_rodrigues(rot_vecs: torch.Tensor, epsilon: float = 1e-8) -> torch.Tensor:
    """Axis-angle vectors to rotation matrices (Rodrigues' formula).

    Args:
        rot_vecs: (N, 3) axis-angle vectors; direction = axis, norm = angle in radians.
        epsilon: keeps the axis finite (and the gradient defined) at zero rotation.

    Returns:
        (N, 3, 3) rotation matrices, same dtype/device as the input.
    """
    angle = torch.sqrt((rot_vecs * rot_vecs).sum(dim=1, keepdim=True) + epsilon * epsilon)
    axis = rot_vecs / angle
    cos = torch.cos(angle).unsqueeze(-1)
    sin = torch.sin(angle).unsqueeze(-1)
    # The cross-product matrix of each axis as one product with a constant (few graph nodes).
    K = (axis @ _SKEW.to(axis)).view(-1, 3, 3)
    eye = torch.eye(3, dtype=rot_vecs.dtype, device=rot_vecs.device)
    return eye + sin * K + (1.0 - cos) * torch.bmm(K, K)


def batch_rigid_transform(rot_mats: torch.Tensor, joints: torch.Tensor,
                          parents: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pose the joints of a kinematic tree.

    Joint i rotates by rot_mats[:, i] about its rest location, relative to its parent; the root's
    rotation is about its own rest location, which stays fixed.

    Args:
        rot_mats: (B, J, 3, 3) local rotation of each joint, in the rest pose's axes.
        joints: (B, J, 3) or (J, 3) rest joint locations.
        parents: length-J parent index per joint, -1 for the root (index 0); parents precede children.

    Returns:
        posed_joints: (B, J, 3) joint locations after posing, same units as `joints`.
        rel_transforms: (B, J, 4, 4) transform of each joint that maps a rest-pose point rigidly
            attached to that joint to its posed location (what skinning blends).
    """
    B, J = rot_mats.shape[:2]
    joints = joints.expand(B, J, 3) if joints.dim() == 3 else joints.unsqueeze(0).expand(B, J, 3)
    parent_idx = list(parents)
    rel = torch.cat([joints[:, :1], joints[:, 1:] - joints[:, parent_idx[1:]]], dim=1)
    # Local transforms [R | rel; 0 0 0 1], composed down the tree one depth level at a time: every
    # joint of a level in one batched product (a hand's 16 joints take 3), so the graph has a few
    # nodes instead of a few per joint (the exported joints stage is per-node bound on the CPU).
    local = torch.cat([rot_mats, rel.unsqueeze(-1)], dim=-1)
    local = F.pad(local, (0, 0, 0, 1)) + _HOMOGENEOUS_ONE.to(local)
    levels, order = _tree_levels(tuple(parent_idx))
    world = [local[:, levels[0][0]]]
    for members, parent_pos in levels[1:]:
        world.append(world[-1][:, parent_pos] @ local[:, members])
    world = torch.cat(world, dim=1)[:, order]
    posed = world[..., :3, 3]
    # Skinning transform: x -> R (x - j_rest) + j_posed: the world transform, its translation
    # column less R j_rest.
    rest = F.pad(world[..., :3, :3] @ joints.unsqueeze(-1), (0, 0, 0, 1))
    return posed, torch.cat([world[..., :3], world[..., 3:] - rest], dim=-1)


# Added to a (..., 4, 4) transform padded with a zero row: the homogeneous row's 1.
_HOMOGENEOUS_ONE = torch.zeros(4, 4)
_HOMOGENEOUS_ONE[3, 3] = 1.0


@functools.lru_cache(maxsize=None)
def _tree_levels(parents: tuple[int, ...]) -> tuple[list[tuple[list[int], list[int]]], list[int]]:
    """A kinematic tree's joints by depth, for `batch_rigid_transform`.

    Returns:
        levels: per depth, (its joints, each one's parent's position in the previous level's list;
            empty at depth 0).
        order: the position of each joint in the levels' concatenation (to restore joint order).
    """
    depth = [0] * len(parents)
    for i, p in enumerate(parents[1:], start=1):
        depth[i] = depth[p] + 1
    members = [[i for i, d in enumerate(depth) if d == level] for level in range(max(depth) + 1)]
    levels = [(members[0], [])]
    for prev, current in zip(members, members[1:]):
        levels.append((current, [prev.index(parents[i]) for i in current]))
    concatenated = [i for level in members for i in level]
    return levels, [concatenated.index(i) for i in range(len(parents))]


def lbs(rot_mats: torch.Tensor, v_shaped: torch.Tensor, joints: torch.Tensor,
        parents: Sequence[int], weights: torch.Tensor
        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Linear blend skinning of an already shaped template (no pose correctives).

    Args:
        rot_mats: (B, J, 3, 3) local joint rotations (see `batch_rigid_transform`).
        v_shaped: (B, V, 3) or (V, 3) rest-pose vertices after any shape blend.
        joints: (B, J, 3) or (J, 3) rest-pose joints matching `v_shaped`.
        parents: length-J parent indices, -1 for the root.
        weights: (V, J) skinning weights, rows summing to 1.

    Returns:
        vertices: (B, V, 3) posed vertices, same units as the inputs.
        posed_joints: (B, J, 3) posed joints.
        rel_transforms: (B, J, 4, 4) per-joint skinning transforms (to pose points, e.g. fingertips,
            that follow one joint rigidly).
    """
    posed_joints, transforms = batch_rigid_transform(rot_mats, joints, parents)
    return blend_skinning(bone_transforms(transforms), v_shaped, weights), posed_joints, transforms


def bone_transforms(transforms: torch.Tensor) -> torch.Tensor:
    """(B, J, 4, 4) rigid transforms -> (B, J, 12): their 3x4 parts, row-major (what skinning blends)."""
    return transforms[:, :, :3, :].flatten(2)


def blend_skinning(bones: torch.Tensor, v_shaped: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Move every vertex by the weighted sum of its joints' rigid transforms (the "B" of LBS).

    Args:
        bones: (B, J, 12) per-joint transforms from `bone_transforms`.
        v_shaped: (B, V, 3) or (V, 3) rest-pose vertices after any shape blend.
        weights: (V, J) skinning weights, rows summing to 1.

    Returns:
        (B, V, 3) posed vertices (a transposed view of a (B, 3, V) tensor).
    """
    # Blend the 3x4 parts channels-first with one GEMM, (B, 12, J) @ (J, V) -> (B, 3, 4, V), then apply
    # them with three fused multiply-adds over rows of V: several times faster on CPU than a
    # (B, V, 3, 3) product + sum. No shape depends on the batch, so an exported graph has no shape
    # arithmetic (the mesh stage of dirnet.runtime is this function; measured in docs/PERFORMANCE.md).
    blended = (bones.transpose(1, 2) @ weights.T).view(-1, 3, 4, weights.shape[0])
    b0, b1, b2, b3 = blended.unbind(2)  # (B, 3, V) each: rotation columns and translation
    v0, v1, v2 = v_shaped.transpose(-1, -2).unsqueeze(-2).unbind(-3)  # (B, 1, V) or (1, V) each
    out = torch.addcmul(torch.addcmul(torch.addcmul(b3, b0, v0), b1, v1), b2, v2)
    return out.transpose(1, 2)


def axis_angle_to_quaternion(rot_vecs: torch.Tensor) -> torch.Tensor:
    """Axis-angle (..., 3) to unit quaternions (..., 4) as (w, x, y, z)."""
    angle = torch.sqrt((rot_vecs * rot_vecs).sum(-1, keepdim=True) + 1e-16)
    half = 0.5 * angle
    return torch.cat([torch.cos(half), rot_vecs * (torch.sin(half) / angle)], dim=-1)


def quaternion_multiply(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Hamilton product of (..., 4) quaternions (w, x, y, z): the rotation `b` then `a`."""
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([
        aw * bw - ax * bx - ay * by - az * bz,
        aw * bx + ax * bw + ay * bz - az * by,
        aw * by - ax * bz + ay * bw + az * bx,
        aw * bz + ax * by - ay * bx + az * bw,
    ], dim=-1)


def quaternion_to_axis_angle(quats: torch.Tensor) -> torch.Tensor:
    """Unit quaternions (..., 4) as (w, x, y, z) to axis-angle (..., 3), angle in [0, pi]."""
    # q and -q are the same rotation: take w >= 0 so the angle stays in [0, pi].
    quats = torch.where(quats[..., :1] < 0, -quats, quats)
    xyz = quats[..., 1:]
    sin_half = torch.sqrt((xyz * xyz).sum(-1, keepdim=True) + 1e-16)
    angle = 2.0 * torch.atan2(sin_half, quats[..., :1])
    return xyz * (angle / sin_half)


def angles_to_axis_angle(angles: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """Compose per-joint rotations about three given axes into one axis-angle per joint.

    The rotation is R = R(a1, angle1) * R(a0, angle0) * R(a2, angle2): about axis 2 first, then
    axis 0, then axis 1, all fixed in the parent's frame (equivalently: axis 1, then the moved
    axis 0, then the moved axis 2). With the axes [flexion, abduction, twist] of
    `dirnet.hand.poses.anatomical_axes` this is abduction, then flexion, then twist along the bone.

    Args:
        angles: (B, J, 3) radians about the three axes of each joint.
        axes: (J, 3, 3) unit axes per joint as rows, in the frame the result is expressed in.

    Returns:
        (B, J, 3) axis-angle per joint; differentiable in `angles`.
    """
    axes = axes.to(angles)
    q0 = axis_angle_to_quaternion(angles[..., 0:1] * axes[:, 0])
    q1 = axis_angle_to_quaternion(angles[..., 1:2] * axes[:, 1])
    q2 = axis_angle_to_quaternion(angles[..., 2:3] * axes[:, 2])
    return quaternion_to_axis_angle(quaternion_multiply(q1, quaternion_multiply(q0, q2)))
