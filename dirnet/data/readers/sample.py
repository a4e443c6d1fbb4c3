"""The one record every dataset reader yields, and the small helpers the readers share."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dirnet.hand.skeleton import NUM_JOINTS

__all__ = ["HandSample", "HANDEDNESS", "project", "reorder", "require_file"]

HANDEDNESS = ("left", "right")


@dataclass
class HandSample:
    """One labelled hand in one image, in our conventions.

    Attributes:
        image_path: the RGB image the labels refer to.
        joints2d: (21, 2) float32 px of that image (pixel centres at integers), MediaPipe joint
            order, or None when the dataset has no 2D label. A joint whose position is unknown
            (not annotated) is NaN; an occluded joint with a known position is not.
        joints3d: (21, 3) float32 mm in the camera frame (x right, y down, z away), or None. The
            teacher index gives wrist-relative joints here (camera axes, origin at the wrist);
            training only ever uses root-relative 3D, so both kinds work.
        handedness: "left" or "right", the person's true hand.
        visibility: (21,) bool, True where the joint is visible in the image, or None (unknown).
            Informational: which 2D labels are usable is told by NaN in joints2d.
        K: (3, 3) float64 intrinsics of the image, or None.
        source: the original photo or video a derived crop was cut from (teacher crops), or None
            when image_path is the original.
    """

    image_path: Path
    joints2d: np.ndarray | None
    joints3d: np.ndarray | None
    handedness: str
    visibility: np.ndarray | None = None
    K: np.ndarray | None = None
    source: Path | None = None

    def __post_init__(self) -> None:
        self.image_path = Path(self.image_path)
        if self.handedness not in HANDEDNESS:
            raise ValueError(f"handedness must be one of {HANDEDNESS}, got {self.handedness!r}")
        self.joints2d = _checked(self.joints2d, (NUM_JOINTS, 2), np.float32, "joints2d")
        self.joints3d = _checked(self.joints3d, (NUM_JOINTS, 3), np.float32, "joints3d")
        self.visibility = _checked(self.visibility, (NUM_JOINTS,), bool, "visibility")
        self.K = _checked(self.K, (3, 3), np.float64, "K")


def _checked(array, shape: tuple[int, ...], dtype, name: str) -> np.ndarray | None:
    if array is None:
        return None
    out = np.asarray(array, dtype=dtype)
    if out.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {out.shape}")
    return out


def project(points: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection of camera-frame points.

    Args:
        points: (..., 3) camera frame, any length unit, z > 0.
        K: (3, 3) intrinsics.

    Returns:
        (..., 2) float64 px.
    """
    uvw = np.asarray(points, dtype=np.float64) @ np.asarray(K, dtype=np.float64).T
    return uvw[..., :2] / uvw[..., 2:3]


def reorder(joints: np.ndarray, table: tuple[int, ...]) -> np.ndarray:
    """Joints in our order: entry i of `table` is the dataset's index of our joint i.

    Args:
        joints: (..., J, D) in the dataset's order.
        table: 21 source indices.

    Returns:
        (..., 21, D).
    """
    assert len(table) == NUM_JOINTS and len(set(table)) == NUM_JOINTS, "table must be a permutation"
    return np.asarray(joints)[..., list(table), :]


def require_file(path: Path) -> Path:
    """`path` if it is a file.

    Raises:
        FileNotFoundError: naming the missing path.
    """
    if not path.is_file():
        raise FileNotFoundError(f"missing dataset file: {path}")
    return path
