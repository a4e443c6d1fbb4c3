"""The 21-joint hand skeleton every public API and file uses (MediaPipe/OpenPose order).

Other joint orders are converted only at the boundary, by the explicit reorder functions here.
"""
from __future__ import annotations

import enum

import numpy as np

__all__ = [
    "HandJoint", "NUM_JOINTS", "PARENTS", "HAND_CONNECTIONS", "FINGERS",
    "MANO_TO_MEDIAPIPE", "MANO_PARENTS", "mano_to_mediapipe", "MIRROR_X", "SIDE_SWAP",
]


class HandJoint(enum.IntEnum):
    WRIST = 0
    THUMB_CMC = 1
    THUMB_MCP = 2
    THUMB_IP = 3
    THUMB_TIP = 4
    INDEX_MCP = 5
    INDEX_PIP = 6
    INDEX_DIP = 7
    INDEX_TIP = 8
    MIDDLE_MCP = 9
    MIDDLE_PIP = 10
    MIDDLE_DIP = 11
    MIDDLE_TIP = 12
    RING_MCP = 13
    RING_PIP = 14
    RING_DIP = 15
    RING_TIP = 16
    PINKY_MCP = 17
    PINKY_PIP = 18
    PINKY_DIP = 19
    PINKY_TIP = 20


NUM_JOINTS = 21

# Joints of each finger from its base to its tip.
FINGERS: dict[str, tuple[int, ...]] = {
    "thumb": (1, 2, 3, 4),
    "index": (5, 6, 7, 8),
    "middle": (9, 10, 11, 12),
    "ring": (13, 14, 15, 16),
    "pinky": (17, 18, 19, 20),
}

# Parent of each joint in the kinematic tree (wrist is the root).
PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)

_PALM = frozenset({(0, 1), (0, 5), (5, 9), (9, 13), (13, 17), (0, 17)})
_FINGER_EDGES = frozenset(
    (a, b) for chain in FINGERS.values() for a, b in zip(chain[:-1], chain[1:])
)
HAND_CONNECTIONS: frozenset[tuple[int, int]] = _PALM | _FINGER_EDGES

# MANO order: 16 joints (wrist; index, middle, pinky, ring, thumb x3) + 5 tips (thumb, index,
# middle, ring, pinky). Entry i of this table is the MANO index of MediaPipe joint i.
MANO_TO_MEDIAPIPE: tuple[int, ...] = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
MANO_PARENTS: tuple[int, ...] = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)

# Mirroring a right hand into a left one (and back) negates camera x.
MIRROR_X = np.array([-1.0, 1.0, 1.0], dtype=np.float32)

# The joint order read from the other side of the hand: thumb <-> little finger, index <-> ring.
# A pose whose error drops under this relabelling took the back of a hand for its palm.
SIDE_SWAP: tuple[int, ...] = (0, 17, 18, 19, 20, 13, 14, 15, 16, 9, 10, 11, 12, 5, 6, 7, 8, 1, 2, 3, 4)


def mano_to_mediapipe(joints):
    """Reorder (..., 21, D) joints from MANO order (16 joints + 5 tips) to MediaPipe order."""
    return joints[..., list(MANO_TO_MEDIAPIPE), :]
