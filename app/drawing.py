"""Draw results into images with OpenCV: the annotated video frame and the per-loop heatmaps.

Used both by the window (drawn in the worker thread, shown as one image) and by the recorder's
annotated MP4, so what is recorded is what was shown. Images are RGB uint8.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from dirnet import FINGERS, HAND_CONNECTIONS, Box, HandPose, crop_matrix, transform_points, warp

from .pipeline import MEDIAPIPE_EVERY, FrameResult

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
    # MediaPipe's landmarks: magenta dashes and hollow squares, outlined in black, so they are told
    # from our solid bones and filled dots at a glance (cyan was mistaken for our ring finger)
    mediapipe_color: RGB = (255, 0, 255)
    outline_color: RGB = (0, 0, 0)
    dash: float = 9.0
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
    for landmarks in result.mediapipe or ():
        _draw_mediapipe(image, landmarks, spec, unit)


def _draw_mediapipe(image: np.ndarray, landmarks: np.ndarray, spec: DrawingSpec, unit: float,
                    edges=_EDGES) -> None:
    """Dashed bones and hollow rings (a black centre hides the bones beneath), outlined in black."""
    thick = max(1, round(spec.thickness * unit * 0.6))
    radius = max(3, round(spec.joint_radius * unit * 0.9))
    for color, width in ((spec.outline_color, thick + 2), (spec.mediapipe_color, thick)):
        for a, b in edges:
            _dashed_line(image, landmarks[a], landmarks[b], color, width, spec.dash * unit)
    for x, y in landmarks:
        cv2.circle(image, _pt(x, y), radius + 1, spec.outline_color, -1, cv2.LINE_AA)
        cv2.circle(image, _pt(x, y), radius - thick // 2, spec.mediapipe_color, thick, cv2.LINE_AA)


def _dashed_line(image: np.ndarray, p: np.ndarray, q: np.ndarray, color: RGB, thick: int, dash: float) -> None:
    """Dashes `dash` px long with gaps as long, from p to q."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    length = float(np.hypot(*(q - p)))
    for start in np.arange(0.0, length, 2 * dash):
        end = min(start + dash, length)
        cv2.line(image, _pt(*(p + (q - p) * start / length)), _pt(*(p + (q - p) * end / length)), color,
                 thick, cv2.LINE_AA)


def _draw_legend(image: np.ndarray, found: bool, spec: DrawingSpec) -> None:
    """Bottom left: which marks are ours and which MediaPipe's (or that it found no hand). Sized by
    the frame's shorter side, so that it fits a portrait frame too."""
    unit = min(image.shape[:2]) / 720.0
    scale, thick = spec.font_scale * unit, max(1, round(unit * 1.5))  # as large as the hand labels
    entries = ("DIR-Net", f"MediaPipe (1 frame in {MEDIAPIPE_EVERY})" if found else "MediaPipe: no hand found")
    sizes = [cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)[0] for text in entries]
    line_h, sample = max(h for _, h in sizes) + round(12 * unit), round(54 * unit)
    width = sample + max(w for w, _ in sizes) + round(20 * unit)
    x0, y0 = round(8 * unit), image.shape[0] - round(8 * unit) - 2 * line_h
    cv2.rectangle(image, (x0, y0), (x0 + width, y0 + 2 * line_h), spec.label_color, -1)
    for row, text in enumerate(entries):
        y = y0 + row * line_h + line_h // 2
        a, b = np.array([x0 + 6 * unit, y]), np.array([x0 + sample - 6 * unit, y])
        if row == 0:
            cv2.line(image, _pt(*a), _pt(*b), spec.finger_colors[3], max(1, round(spec.thickness * unit)),
                     cv2.LINE_AA)
            cv2.circle(image, _pt(*b), max(2, round(spec.joint_radius * unit)), spec.finger_colors[3], -1,
                       cv2.LINE_AA)
        else:
            _draw_mediapipe(image, np.stack([a, b]), spec, unit, edges=[(0, 1)])
        cv2.putText(image, text, (x0 + sample + round(8 * unit), y + sizes[row][1] // 2),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, spec.text_color, thick, cv2.LINE_AA)


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
    """The frame with every hand's skeleton, uncertainty ellipses, crop box and label, and MediaPipe's
    landmarks with a legend while the comparison is on.

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
    if result.mediapipe is not None:
        _draw_legend(out, bool(result.mediapipe), spec)
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
