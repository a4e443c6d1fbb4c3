"""Hand poses in anatomical joint angles: per-joint axes, limits, and named gestures.

Each of the 15 articulated joints (MANO order: index, middle, pinky, ring, thumb x3 from the palm
out) gets a right-handed frame of unit axes [flexion, abduction, twist] in rest-pose coordinates,
derived from the rest joints (`anatomical_axes`):

- twist: along the bone, from the joint towards the next joint of its finger;
- flexion: twist x (palm-side direction), so a positive flexion angle curls the finger towards
  the palm (for the thumb: towards the palm and across it, towards the little finger);
- abduction: twist x flexion; a positive angle turns a finger towards the thumb side (radial), and
  the thumb out of the palm plane towards the camera side of the palm.

A model's hand pose in these terms is an (15, 3) array of radians relative to its rest pose
(zeros = rest pose); `dirnet.hand.lbs.angles_to_axis_angle` (or the models' `angles_to_pose`)
turns it into MANO-style axis-angle: abduction about the parent-fixed axis, then flexion about the
moved flexion axis, then twist about the bone.

Rest poses differ (MakeHuman's is slightly curled, MANO's flat), so gestures and anatomical ranges
are written with flexion measured from a straight finger (MCP: from the wrist->MCP line) and the
model's `rest_flexion` is subtracted. The thumb's CMC has no such reference and is written about
the rest pose directly; the named gestures are tuned on the open hand.
"""
from __future__ import annotations

import functools

import numpy as np

from dirnet.hand.open_hand import DEFAULT_ASSET
from dirnet.hand.skeleton import MANO_TO_MEDIAPIPE, PARENTS, HandJoint

__all__ = [
    "canonical_rotation", "anatomical_axes", "rest_flexion", "anatomical_limits", "GESTURES", "gesture_angles",
]

_DEG = np.pi / 180.0

# MediaPipe index of each articulated MANO joint 1..15, and of the next joint down its finger.
_MP_OF_MANO = np.array([MANO_TO_MEDIAPIPE.index(m) for m in range(1, 16)])
_MP_CHILD = _MP_OF_MANO + 1
_MP_PARENT = np.array([PARENTS[i] for i in _MP_OF_MANO])
_THUMB = slice(12, 15)  # MANO joints 13..15, rows 12..14 of the (15, ...) arrays
# Joints whose flexion is measured from a straight finger: all but the thumb's CMC (row 12).
_STRAIGHT_REF = np.arange(15) != 12

# Anatomical ranges in degrees, [flexion, abduction, twist] x [low, high], per finger level.
# Finger flexion is measured from a straight finger (MCP: from the wrist->MCP line), so the rest
# pose's own curl is subtracted before the ranges are used; thumb CMC ranges are about the rest pose.
_FINGER_RANGES = np.array([
    [[-20, 90], [-20, 20], [-8, 8]],    # MCP
    [[0, 110], [-3, 3], [-5, 5]],       # PIP
    [[0, 80], [-3, 3], [-5, 5]],        # DIP
], dtype=np.float64)
_THUMB_RANGES = np.array([
    [[-25, 50], [-40, 40], [-25, 25]],  # CMC (about the rest pose)
    [[-10, 60], [-15, 15], [-8, 8]],    # MCP
    [[-15, 80], [-3, 3], [-5, 5]],      # IP
], dtype=np.float64)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def canonical_rotation(rest_joints: np.ndarray) -> np.ndarray:
    """Rotation from a right hand's own frame into the canonical frame of `dirnet.hand.base`.

    y = -(wrist -> middle MCP) (fingers up), x = (pinky MCP -> index MCP) made orthogonal to y
    (thumb side), z = x cross y; for a right hand the palm then faces -z.

    Args:
        rest_joints: (21, 3) rest joints, MediaPipe order, in the source frame.

    Returns:
        (3, 3) float64 rotation (det +1) whose rows are the canonical axes in the source frame, so
        canonical = rotation @ (point - wrist).
    """
    j = np.asarray(rest_joints, dtype=np.float64)
    y = -_unit(j[HandJoint.MIDDLE_MCP] - j[HandJoint.WRIST])
    side = j[HandJoint.INDEX_MCP] - j[HandJoint.PINKY_MCP]
    x = _unit(side - (side @ y) * y)
    return np.stack([x, y, np.cross(x, y)])


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
        (15, 3, 2) float64 radians: [flexion, abduction, twist] x [low, high], rest pose = 0; each
        range is widened where needed to contain the rest pose.
    """
    limits = np.concatenate([np.tile(_FINGER_RANGES, (4, 1, 1)), _THUMB_RANGES]) * _DEG
    limits[_STRAIGHT_REF, 0, :] -= rest_flex[_STRAIGHT_REF, None]
    limits[..., 0] = np.minimum(limits[..., 0], 0.0)
    limits[..., 1] = np.maximum(limits[..., 1], 0.0)
    return limits


def _gesture(index, middle, ring, pinky, thumb) -> np.ndarray:
    """Assemble (15, 3) degrees from per-finger (3, 3) rows [MCP, PIP, DIP] x [flex, abd, twist]."""
    return np.concatenate([index, middle, pinky, ring, thumb]).astype(np.float64)


def _spread(abduction: float, flexion=(0, 0, 0)) -> list[list[float]]:
    return [[flexion[0], abduction, 0], [flexion[1], 0, 0], [flexion[2], 0, 0]]


_CURLED = [[85, 0, 0], [100, 0, 0], [65, 0, 0]]
_THUMB_OVER_FINGERS = [[20, -35, 0], [42, 0, 0], [44, 0, 0]]

# Degrees; finger (and thumb MCP/IP) flexion from straight, thumb CMC about the rest pose.
_GESTURES_DEG: dict[str, np.ndarray] = {
    "open_palm": _gesture(_spread(6), _spread(0), _spread(-4), _spread(-10),
                          [[-10, -10, 0], [0, 0, 0], [0, 0, 0]]),
    "fist": _gesture(_CURLED, _CURLED, _CURLED, _CURLED, _THUMB_OVER_FINGERS),
    "point": _gesture(_spread(0), _CURLED, _CURLED, _CURLED, _THUMB_OVER_FINGERS),
    "pinch": _gesture(_spread(0, (45, 45, 22)), _spread(0, (12, 20, 5)), _spread(0, (17, 27, 5)),
                      _spread(-5, (30, 28, 10)), [[20, 5, 0], [22, -10, 0], [14, 0, 0]]),
    "thumbs_up": _gesture(_CURLED, _CURLED, _CURLED, _CURLED, [[0, -30, 0], [0, 0, 0], [0, 0, 0]]),
    "victory": _gesture(_spread(10), _spread(-6), _CURLED, _CURLED, _THUMB_OVER_FINGERS),
}

GESTURES: tuple[str, ...] = ("rest",) + tuple(_GESTURES_DEG)


@functools.lru_cache(maxsize=1)
def _open_hand_rest_flexion() -> np.ndarray:
    with np.load(DEFAULT_ASSET, allow_pickle=False) as data:
        return data["rest_flexion"].astype(np.float64)


def gesture_angles(name: str, rest_flex: np.ndarray | None = None) -> np.ndarray:
    """Anatomical angles of a named gesture for a given hand model.

    Args:
        name: one of `GESTURES`; "rest" is the model's own rest pose (all zeros).
        rest_flex: (15,) the model's `rest_flexion` in radians (both hand models have the buffer);
            None uses the open hand's.

    Returns:
        (15, 3) float32 radians [flexion, abduction, twist] per joint, MANO order, relative to the
        model's rest pose, for `angles_to_pose`.

    Raises:
        ValueError: unknown gesture name.
    """
    if name == "rest":
        return np.zeros((15, 3), dtype=np.float32)
    if name not in _GESTURES_DEG:
        raise ValueError(f"unknown gesture {name!r}, known: {list(GESTURES)}")
    if rest_flex is None:
        rest_flex = _open_hand_rest_flexion()
    angles = _GESTURES_DEG[name] * _DEG
    angles[_STRAIGHT_REF, 0] -= np.asarray(rest_flex, dtype=np.float64)[_STRAIGHT_REF]
    return angles.astype(np.float32)
