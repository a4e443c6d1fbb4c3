"""Draw results into images with OpenCV: the annotated video frame and the per-loop heatmaps.

Used both by the window (drawn in the worker thread, shown as one image) and by the recorder's
annotated MP4, so what is recorded is what was shown. Images are RGB uint8.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dirnet import FINGERS, HAND_CONNECTIONS, Box, HandPose, crop_matrix, transform_points, warp

from .pipeline import FrameResult

__all__ = ["DrawingSpec", "annotate", "loop_heatmaps", "heatmap_images"]

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class DrawingSpec:
    """Colours (RGB) and sizes of the overlay; sizes are for a 720-px-high frame and scale with it."""

    finger_colors: tuple[RGB, ...] = ((255, 112, 67), (255, 202, 40), (102, 187, 106),
                                      (41, 182, 246), (171, 71, 188))  # thumb .. pinky
    palm_color: RGB = (236, 239, 241)
    ellipse_color: RGB = (255, 255, 255)
    ellipse_sigma: float = 2.0  # ellipse half-axes in standard deviations
    mediapipe_color: RGB = (0, 229, 255)
    box_color: RGB = (120, 144, 156)
    text_color: RGB = (255, 255, 255)
    label_color: RGB = (38, 50, 56)
    thickness: float = 3.0
    joint_radius: float = 5.0
    font_scale: float = 0.8


def _joint_color(spec: DrawingSpec) -> list[RGB]:
    colors = [spec.palm_color] * 21
    for finger, joints in enumerate(FINGERS.values()):
        for j in joints:
            colors[j] = spec.finger_colors[finger]
    return colors


_EDGES = sorted(HAND_CONNECTIONS)


def _draw_hand_geometry(image: np.ndarray, result: FrameResult, spec: DrawingSpec, unit: float) -> None:
    thick = max(1, round(spec.thickness * unit))
    radius = max(2, round(spec.joint_radius * unit))
    colors = _joint_color(spec)
    for hand in result.hands:
        b = hand.box
        half = b.size / 2
        cv2.rectangle(image, _pt(b.cx - half, b.cy - half), _pt(b.cx + half, b.cy + half),
                      spec.box_color, max(1, thick // 2), cv2.LINE_AA)
        pts = hand.joints2d
        sigma = np.sqrt(np.maximum(hand.var2d, 0.0)) * spec.ellipse_sigma
        for (x, y), (sx, sy) in zip(pts, sigma):
            axes = (max(1, round(sx)), max(1, round(sy)))
            cv2.ellipse(image, _pt(x, y), axes, 0, 0, 360, spec.ellipse_color, 1, cv2.LINE_AA)
        for a, b_ in _EDGES:
            cv2.line(image, _pt(*pts[a]), _pt(*pts[b_]), colors[b_], thick, cv2.LINE_AA)
        for (x, y), color in zip(pts, colors):
            cv2.circle(image, _pt(x, y), radius, color, -1, cv2.LINE_AA)
    for landmarks in result.mediapipe:
        for a, b_ in _EDGES:
            cv2.line(image, _pt(*landmarks[a]), _pt(*landmarks[b_]), spec.mediapipe_color, 1, cv2.LINE_AA)
        for x, y in landmarks:
            cv2.circle(image, _pt(x, y), max(2, radius // 2), spec.mediapipe_color, 1, cv2.LINE_AA)


def _hand_label(hand) -> str:
    text = f"{hand.handedness}  {hand.pose.loops} loop{'s' if hand.pose.loops > 1 else ''}"
    if hand.gesture is not None:
        text += f"  {hand.gesture.name} {hand.gesture.confidence:.0%}"
    return text


def _draw_label(image: np.ndarray, text: str, x: float, y: float, spec: DrawingSpec, unit: float) -> None:
    scale = spec.font_scale * unit
    thick = max(1, round(unit * 1.5))
    (w, h), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
    x = int(np.clip(x, 0, max(0, image.shape[1] - w - 8)))
    y = int(np.clip(y, h + 8, image.shape[0] - 4))
    cv2.rectangle(image, (x, y - h - 8), (x + w + 8, y + base - 2), spec.label_color, -1)
    cv2.putText(image, text, (x + 4, y - 4), cv2.FONT_HERSHEY_SIMPLEX, scale, spec.text_color, thick,
                cv2.LINE_AA)


def annotate(result: FrameResult, out: np.ndarray | None = None, spec: DrawingSpec = DrawingSpec(),
             mirror: bool = False) -> np.ndarray:
    """The frame with every hand's skeleton, uncertainty ellipses, crop box and label.

    Args:
        result: one processed frame.
        out: (H, W, 3) uint8 buffer to draw into (reused between frames); None allocates.
        spec: colours and sizes.
        mirror: flip the picture horizontally (selfie view); labels stay readable.

    Returns:
        `out` (or a new array): (H, W, 3) uint8 RGB.
    """
    frame = result.frame
    if out is None or out.shape != frame.shape:
        out = np.empty_like(frame)
    np.copyto(out, frame)
    unit = frame.shape[0] / 720.0
    _draw_hand_geometry(out, result, spec, unit)
    if mirror:
        cv2.flip(out, 1, dst=out)
    width = frame.shape[1]
    for hand in result.hands:
        b = hand.box
        left = b.cx - b.size / 2
        x = width - 1 - (b.cx + b.size / 2) if mirror else left
        _draw_label(out, _hand_label(hand), x, b.cy - b.size / 2 - 4 * unit, spec, unit)
    return out


def _pt(x: float, y: float) -> tuple[int, int]:
    return int(round(float(x))), int(round(float(y)))


def loop_heatmaps(pose: HandPose, res: int) -> np.ndarray:
    """Uncertainty heatmaps of every executed loop over the box DIR-Net saw, as in the paper's Fig. 4.

    Each joint is a 2D Gaussian at its predicted position with its predicted per-axis variance,
    scaled to unit volume, so confident joints are small bright spots and uncertain ones wide,
    faint blobs. All loops share one normalisation so they can be compared.

    Args:
        pose: DIR-Net's result; uses pose.box and pose.trace[l].joints2d / var2d (image px, px^2).
        res: side of each heatmap (px); the map covers pose.box.

    Returns:
        (L, res, res) float32 in [0, 1], one map per loop.
    """
    to_map = crop_matrix(pose.box, res)
    k = res / pose.box.size
    grid = np.arange(res, dtype=np.float32)
    maps = np.empty((len(pose.trace), res, res), np.float32)
    for l, loop in enumerate(pose.trace):
        mu = transform_points(loop.joints2d, to_map).astype(np.float32)
        sd = np.maximum(np.sqrt(np.maximum(loop.var2d, 0.0)).astype(np.float32) * k, 0.7)
        gx = np.exp(-0.5 * ((grid[None] - mu[:, :1]) / sd[:, :1]) ** 2) / sd[:, :1]  # (21, res)
        gy = np.exp(-0.5 * ((grid[None] - mu[:, 1:]) / sd[:, 1:]) ** 2) / sd[:, 1:]
        np.matmul(gy.T, gx, out=maps[l])
    peak = float(maps.max()) if maps.size else 0.0
    if peak > 0:
        maps /= peak
    return maps


def heatmap_images(image: np.ndarray, box: Box, heatmaps: np.ndarray) -> list[np.ndarray]:
    """Each heatmap coloured (inferno) over a dimmed grey copy of the box's region of the image.

    Args:
        image: (H, W, 3) uint8 RGB the pose was estimated on (e.g. the frame).
        box: the region the heatmaps cover (pose.box).
        heatmaps: (L, r, r) float32 in [0, 1] from loop_heatmaps.

    Returns:
        L images (r, r, 3) uint8 RGB.
    """
    res = heatmaps.shape[-1]
    grey = cv2.cvtColor(warp(image, crop_matrix(box, res), res), cv2.COLOR_RGB2GRAY)
    backdrop = cv2.cvtColor((grey * 0.45).astype(np.uint8), cv2.COLOR_GRAY2RGB)
    images = []
    for heat in heatmaps:
        # sqrt lifts faint, wide blobs so uncertain joints stay visible next to sharp ones
        level = (np.sqrt(heat) * 255).astype(np.uint8)
        color = cv2.cvtColor(cv2.applyColorMap(level, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)
        alpha = np.sqrt(heat)[..., None]
        images.append((backdrop * (1 - alpha) + color * alpha).astype(np.uint8))
    return images
