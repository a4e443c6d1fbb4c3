"""Square hand crops: boxes around 2D joints, crop affines, warping and point transforms.

Pure numpy + OpenCV functions shared by the teacher, the training data layer, the Estimator and the
live tracker, so that every part of the project cuts crops the same way.

Pixel convention (OpenCV's): integer coordinates are pixel CENTRES; pixel i covers [i-0.5, i+0.5].
An image W pixels wide spans [-0.5, W-0.5] and its horizontal flip maps x -> W-1-x. A crop of
`out_res` pixels spans [-0.5, out_res-0.5] and its centre is at (out_res-1)/2.

A crop affine M is a (2, 3) float64 matrix mapping source-image px to crop px:
`crop_xy = M[:, :2] @ image_xy + M[:, 2]`, the matrix `cv2.warpAffine` expects.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "Box", "box_from_points", "reframe_box", "crop_matrix", "crop_rotation_3d", "warp",
    "transform_points", "invert_affine", "DEFAULT_MARGIN", "REFRAME_BELOW",
]

# Box side / larger side of the joints' bounding box: 1.5 keeps the whole hand (joints are bone
# centres, skin extends beyond them) plus some context, as MediaPipe's own 2x palm box roughly does.
DEFAULT_MARGIN = 1.5

# Below this scale (crop px per image px) bilinear warping aliases; halve the image first.
_MIN_DIRECT_SCALE = 0.5


@dataclass(frozen=True)
class Box:
    """A square crop region in image px.

    Attributes:
        cx: centre x (image px, pixel-centre convention).
        cy: centre y (image px).
        size: side length (image px), > 0.
    """

    cx: float
    cy: float
    size: float

    def scaled(self, factor: float) -> "Box":
        """The same box about the same centre with its side multiplied by `factor`."""
        return Box(self.cx, self.cy, self.size * factor)

    def as_list(self) -> list[float]:
        """[cx, cy, size] as plain floats (for JSON)."""
        return [float(self.cx), float(self.cy), float(self.size)]


def box_from_points(points: np.ndarray, margin: float = DEFAULT_MARGIN,
                    min_size: float = 1.0) -> Box:
    """Square box centred on the bounding box of 2D points, side = margin x its larger side.

    Args:
        points: (N, 2) image px; rows with a non-finite value are ignored.
        margin: side of the box / larger side of the points' bounding box (> 0).
        min_size: smallest side returned (px), so one point or a collinear set still gives a box.

    Returns:
        The Box.

    Raises:
        ValueError: if points is not (N, 2), has no finite row, or margin <= 0.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(f"points must be (N, 2), got shape {pts.shape}")
    if margin <= 0:
        raise ValueError(f"margin must be > 0, got {margin}")
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) == 0:
        raise ValueError("points has no finite row")
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2.0
    size = max(float((hi - lo).max()) * margin, min_size)
    return Box(float(centre[0]), float(centre[1]), size)


# A hand whose training-style box is smaller than this share of the crop side is loosely framed:
# a second pass around the first estimate gains from margin 2 on and leaves crops framed like the
# training ones alone (tools/framing_study.py, docs/MODEL_CARD.md).
REFRAME_BELOW = 0.8


def reframe_box(points: np.ndarray, height: int, width: int, margin: float = DEFAULT_MARGIN,
                below: float = REFRAME_BELOW) -> Box | None:
    """The box the network was trained to see around a first estimate, or None if the crop is one.

    Args:
        points: (21, 2) first-estimate joints, crop px. height, width: the crop's size.
        margin: box side / larger side of the points' extent (the training crops' framing).
        below: reframe only when that box is smaller than this share of the crop's longer side.
    """
    box = box_from_points(points, margin)
    return box if box.size < below * max(height, width) else None


def crop_matrix(box: Box, out_res: int, rotation: float = 0.0, mirror: bool = False) -> np.ndarray:
    """Affine from image px to crop px that maps `box` onto an out_res x out_res crop.

    crop = c + F @ R(rotation) @ (s * (image - box_centre)), with s = out_res / box.size,
    c = ((out_res-1)/2, (out_res-1)/2), R(a) = [[cos a, -sin a], [sin a, cos a]] and
    F = diag(-1, 1) when mirrored. In image axes (y down) a positive rotation turns the content
    CLOCKWISE on screen. The box's edges land on the crop's outer pixel edges (-0.5, out_res-0.5).

    Args:
        box: the square region of the source image.
        out_res: crop side in px (> 0).
        rotation: in-plane rotation of the content about the box centre, radians.
        mirror: flip the crop horizontally (x -> out_res-1-x), used to turn left hands into right.

    Returns:
        (2, 3) float64 affine.

    Raises:
        ValueError: if out_res <= 0 or box.size <= 0.
    """
    if out_res <= 0:
        raise ValueError(f"out_res must be > 0, got {out_res}")
    if not box.size > 0:
        raise ValueError(f"box.size must be > 0, got {box.size}")
    scale = out_res / box.size
    linear = scale * crop_rotation_3d(rotation, mirror)[:2, :2]
    centre = np.array([box.cx, box.cy])
    offset = np.full(2, (out_res - 1) / 2.0) - linear @ centre
    return np.concatenate([linear, offset[:, None]], axis=1)


def crop_rotation_3d(rotation: float = 0.0, mirror: bool = False) -> np.ndarray:
    """The 3x3 map for camera-frame 3D points that matches `crop_matrix(..., rotation, mirror)`.

    Camera x/y are parallel to image x/y, so turning the image by R(rotation) about the view axis
    is Rz(rotation) on 3D points, and mirroring the crop negates x. Apply it to root-relative joints:
    `joints3d @ crop_rotation_3d(a, m).T`. (The crop rotates about the box centre, not the
    principal point; for a hand-sized box this is the usual small approximation.)

    Args:
        rotation: radians, same sign as crop_matrix.
        mirror: same as crop_matrix.

    Returns:
        (3, 3) float64; a rotation, or a reflection when mirror is True.
    """
    c, s = np.cos(rotation), np.sin(rotation)
    matrix = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    if mirror:
        matrix[0] *= -1.0
    return matrix


def warp(image: np.ndarray, matrix: np.ndarray, out_res: int, border_value: int = 0) -> np.ndarray:
    """Cut a crop with a crop affine (bilinear).

    Outside the source image the crop is filled with a constant (black by default) rather than
    replicated edge pixels: replication smears skin and fingers into long stripes that look like
    more hand, while a flat border is plainly "no image". Training and run time use this same
    function, so the network sees identical borders. Strong downscales (scale < 0.5) go through
    cv2.pyrDown first so the crop does not alias.

    Args:
        image: (H, W, 3) or (H, W) uint8.
        matrix: (2, 3) crop affine from image px to crop px.
        out_res: crop side in px.
        border_value: fill value for pixels outside the image.

    Returns:
        (out_res, out_res, 3) (or (out_res, out_res) for a 2D input) uint8.

    Raises:
        ValueError: if the image or matrix has the wrong shape.
    """
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"image must be (H, W[, C]) and non-empty, got shape {image.shape}")
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"matrix must be (2, 3), got shape {m.shape}")
    src = image
    # pyrDown output pixel i sits on input pixel 2i, so image coords = 2 * down coords.
    while np.sqrt(abs(np.linalg.det(m[:, :2]))) < _MIN_DIRECT_SCALE and min(src.shape[:2]) >= 2:
        src = cv2.pyrDown(src)
        m = np.concatenate([m[:, :2] * 2.0, m[:, 2:]], axis=1)
    channels = 1 if src.ndim == 2 else src.shape[2]
    return cv2.warpAffine(src, m, (out_res, out_res), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(border_value,) * channels)


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to 2D points.

    Args:
        points: (..., 2) px.
        matrix: (2, 3) affine.

    Returns:
        (..., 2) float64 px.
    """
    pts = np.asarray(points, dtype=np.float64)
    m = np.asarray(matrix, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine (e.g. crop px -> image px).

    Raises:
        ValueError: if the matrix is not (2, 3) or is singular.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3):
        raise ValueError(f"matrix must be (2, 3), got shape {m.shape}")
    det = np.linalg.det(m[:, :2])
    if abs(det) < 1e-12:
        raise ValueError(f"affine is singular (det={det})")
    linear_inv = np.linalg.inv(m[:, :2])
    return np.concatenate([linear_inv, (-linear_inv @ m[:, 2])[:, None]], axis=1)
