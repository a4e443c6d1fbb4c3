"""Hand poses in anatomical joint angles, and a small library of named gestures.

Each of the 15 articulated joints (MANO order: index, middle, pinky, ring, thumb x3 from the palm
out) gets a right-handed frame of unit axes in rest-pose coordinates, derived from the rest joints:

- twist: along the bone, from the joint towards the next joint of its finger;
- flexion: twist x palm-side direction, so a positive flexion angle curls the finger towards the
  palm (for the thumb: across the palm towards the little finger);
- abduction: twist x flexion (= flexion x ... completing [flexion, abduction, twist]); a positive
  angle turns the finger towards the thumb side (radial deviation) for every finger.

Angles are radians relative to the model's rest pose (zeros = rest pose). `angles_to_pose` turns
them into MANO-style axis-angle: abduction about the parent-fixed axis, then flexion about the
abducted flexion axis, then twist about the bone, R = R_abd * R_flex * R_twist.

The gestures below are tuned for the open (MakeHuman) hand, whose rest pose is slightly curled:
`open_palm` straightens it. On MANO (flat rest pose) they still read as the same gestures, with
fingers curled a little less.
"""
from __future__ import annotations

import numpy as np
import torch

from dirnet.hand.lbs import axis_angle_to_quaternion, quaternion_multiply, quaternion_to_axis_angle
from dirnet.hand.skeleton import MANO_TO_MEDIAPIPE, PARENTS, HandJoint

__all__ = [
    "anatomical_axes", "rest_flexion", "anatomical_limits", "angles_to_pose",
    "GESTURES", "gesture_angles",
]

_DEG = np.pi / 180.0

# MediaPipe index of each articulated MANO joint 1..15, and of the next joint down its finger.
_MP_OF_MANO = np.array([MANO_TO_MEDIAPIPE.index(m) for m in range(1, 16)])
_MP_CHILD = _MP_OF_MANO + 1
_MP_PARENT = np.array([PARENTS[i] for i in _MP_OF_MANO])
_THUMB = slice(12, 15)  # MANO joints 13..15, rows 12..14 of the (15, ...) arrays

# Anatomical ranges in degrees, [flexion, abduction, twist] x [low, high], per finger level.
# Finger flexion is measured from a straight finger (MCP: from the wrist->MCP line), so the rest
# pose's own curl is subtracted before the ranges are used; thumb CMC ranges are about the rest pose.
_FINGER_RANGES = np.array([
    [[-20, 90], [-20, 20], [-8, 8]],    # MCP
    [[0, 110], [-3, 3], [-5, 5]],       # PIP
    [[0, 80], [-3, 3], [-5, 5]],        # DIP
], dtype=np.float64)
_THUMB_RANGES = np.array([
    [[-25, 50], [-35, 35], [-25, 25]],  # CMC (about the rest pose)
    [[-10, 60], [-10, 10], [-8, 8]],    # MCP
    [[-15, 80], [-3, 3], [-5, 5]],      # IP
], dtype=np.float64)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def anatomical_axes(rest_joints: np.ndarray) -> np.ndarray:
    """Per-joint [flexion, abduction, twist] unit axes of a right hand's rest pose.

    Args:
        rest_joints: (21, 3) rest-pose joints, MediaPipe order, any units, any right-handed frame.

    Returns:
        (15, 3, 3) float64: row j holds joint j's (MANO order 1..15) flexion, abduction and twist
        axes as unit vectors, in the frame of `rest_joints`.
    """
    j = np.asarray(rest_joints, dtype=np.float64)
    wrist = j[HandJoint.WRIST]
    # For a right hand, (index - wrist) x (pinky - wrist) points out of the palm.
    palm = _unit(np.cross(j[HandJoint.INDEX_MCP] - wrist, j[HandJoint.PINKY_MCP] - wrist))
    twist = _unit(j[_MP_CHILD] - j[_MP_OF_MANO])
    towards = np.repeat(palm[None], 15, axis=0)
    # The thumb flexes across the palm towards the little finger, not straight into the palm.
    across = _unit(j[HandJoint.PINKY_MCP] - j[HandJoint.THUMB_CMC])
    towards[_THUMB] = _unit(palm + across)
    flexion = _unit(np.cross(twist, towards))
    abduction = np.cross(twist, flexion)
    return np.stack([flexion, abduction, twist], axis=1)


def rest_flexion(rest_joints: np.ndarray, axes: np.ndarray) -> np.ndarray:
    """Flexion of each joint in the rest pose relative to a straight continuation of its parent bone.

    Args:
        rest_joints: (21, 3) rest joints, MediaPipe order.
        axes: (15, 3, 3) from `anatomical_axes(rest_joints)`.

    Returns:
        (15,) float64 radians, positive = curled towards the palm.
    """
    j = np.asarray(rest_joints, dtype=np.float64)
    parent_dir = _unit(j[_MP_OF_MANO] - j[_MP_PARENT])
    twist, flexion = axes[:, 2], axes[:, 0]
    return np.arctan2(np.einsum("ij,ij->i", np.cross(parent_dir, twist), flexion),
                      np.einsum("ij,ij->i", parent_dir, twist))


def anatomical_limits(rest_flex: np.ndarray) -> np.ndarray:
    """Joint angle limits relative to the rest pose.

    Args:
        rest_flex: (15,) rest flexion from `rest_flexion`, radians.

    Returns:
        (15, 3, 2) float64 radians: [flexion, abduction, twist] x [low, high], rest pose = 0.
    """
    limits = np.concatenate([np.tile(_FINGER_RANGES, (4, 1, 1)), _THUMB_RANGES]) * _DEG
    straight_ref = np.ones(15, dtype=bool)
    straight_ref[12] = False  # thumb CMC ranges are already about the rest pose
    limits[straight_ref, 0, :] -= rest_flex[straight_ref, None]
    return limits


def angles_to_pose(angles: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """Anatomical angles to MANO-style axis-angle hand pose.

    Args:
        angles: (B, 15, 3) [flexion, abduction, twist] radians per joint (MANO order), rest = 0.
        axes: (15, 3, 3) unit axes per joint as rows [flexion, abduction, twist], rest-pose frame.

    Returns:
        (B, 15, 3) axis-angle per joint, relative to its parent, in the rest pose's axes;
        differentiable in `angles`.
    """
    axes = axes.to(angles)
    q_flex = axis_angle_to_quaternion(angles[..., 0:1] * axes[:, 0])
    q_abd = axis_angle_to_quaternion(angles[..., 1:2] * axes[:, 1])
    q_twist = axis_angle_to_quaternion(angles[..., 2:3] * axes[:, 2])
    return quaternion_to_axis_angle(quaternion_multiply(q_abd, quaternion_multiply(q_flex, q_twist)))


def _gesture(index, middle, ring, pinky, thumb) -> np.ndarray:
    """Assemble (15, 3) degrees from per-finger (3, 3) rows [MCP, PIP, DIP] x [flex, abd, twist]."""
    return np.concatenate([index, middle, pinky, ring, thumb]).astype(np.float64)


_STRAIGHT = [[-6, 0, 0], [-14, 0, 0], [-8, 0, 0]]
_CURLED = [[85, 0, 0], [95, 0, 0], [60, 0, 0]]
_THUMB_OUT = [[-10, -10, 0], [-15, 0, 0], [-15, 0, 0]]
_THUMB_TUCKED = [[30, 15, 0], [40, 0, 0], [40, 0, 0]]

# Degrees relative to the open hand's rest pose; see the module docstring.
_GESTURES_DEG: dict[str, np.ndarray] = {
    "rest": np.zeros((15, 3)),
    "open_palm": _gesture([[-6, 6, 0], *_STRAIGHT[1:]], _STRAIGHT, [[-6, -4, 0], *_STRAIGHT[1:]],
                          [[-6, -10, 0], *_STRAIGHT[1:]], _THUMB_OUT),
    "fist": _gesture(_CURLED, _CURLED, _CURLED, _CURLED, _THUMB_TUCKED),
    "point": _gesture(_STRAIGHT, _CURLED, _CURLED, _CURLED, _THUMB_TUCKED),
    "pinch": _gesture([[40, 0, 0], [35, 0, 0], [20, 0, 0]], [[10, 0, 0], [10, 0, 0], [5, 0, 0]],
                      [[15, 0, 0], [15, 0, 0], [5, 0, 0]], [[20, -5, 0], [20, 0, 0], [10, 0, 0]],
                      [[20, 20, 0], [10, 0, 0], [10, 0, 0]]),
    "thumbs_up": _gesture(_CURLED, _CURLED, _CURLED, _CURLED, [[-15, -10, 0], [-15, 0, 0], [-15, 0, 0]]),
    "victory": _gesture([[-6, 10, 0], *_STRAIGHT[1:]], [[-6, -6, 0], *_STRAIGHT[1:]], _CURLED, _CURLED,
                        _THUMB_TUCKED),
}

GESTURES: tuple[str, ...] = tuple(_GESTURES_DEG)


def gesture_angles(name: str) -> np.ndarray:
    """Anatomical angles of a named gesture.

    Args:
        name: one of `GESTURES`.

    Returns:
        (15, 3) float32 radians [flexion, abduction, twist] per joint, MANO order, for
        `angles_to_pose` / `OpenHandLayer.angles_to_pose`.

    Raises:
        ValueError: unknown gesture name.
    """
    if name not in _GESTURES_DEG:
        raise ValueError(f"unknown gesture {name!r}, known: {list(GESTURES)}")
    return (_GESTURES_DEG[name] * _DEG).astype(np.float32)
