"""Backgrounds and occluders for synthetic hand crops: procedural textures, photo patches, shapes.

Everything returns float32 RGB in [0, 1] as (N, 3, H, W) tensors on the generator's device, so the
renderer composes whole batches without leaving the GPU.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Mapping, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from dirnet.image_io import IMAGE_SUFFIXES, read_rgb

__all__ = ["procedural_backgrounds", "BackgroundBank", "shape_alpha", "hand_blob_alpha"]

log = logging.getLogger(__name__)

_AVOID_MARGIN = 0.25  # a hand box grows by this share of its size on each side before avoiding it


def _rand(shape, gen, device, lo=0.0, hi=1.0):
    return torch.rand(shape, generator=gen, device=device) * (hi - lo) + lo


def _colours(n: int, gen: torch.Generator, device) -> torch.Tensor:
    """(n, 3) colours, often desaturated like indoor scenes."""
    rgb = _rand((n, 3), gen, device)
    grey = rgb.mean(1, keepdim=True)
    return grey + (rgb - grey) * _rand((n, 1), gen, device, 0.1, 1.0)


def _interp_matrix(res: int, grid: int, device) -> torch.Tensor:
    """(res, grid) bilinear weights taking `grid` samples to `res` pixels (edges clamped)."""
    pixel = torch.arange(res, device=device, dtype=torch.float32)
    pos = ((pixel + 0.5) * grid / res - 0.5).clamp(0, grid - 1)
    lo = pos.floor().long().clamp(max=max(grid - 2, 0))
    frac = pos - lo
    mat = torch.zeros(res, grid, device=device)
    rows = torch.arange(res, device=device)
    mat[rows, lo] = 1 - frac
    if grid > 1:
        mat[rows, lo + 1] += frac
    return mat


def _smooth_noise(n: int, res: int, grid: int, gen: torch.Generator, channels: int = 3) -> torch.Tensor:
    """(n, channels, res, res) zero-mean noise with features about res / grid pixels wide.

    Bilinear upsampling of a coarse grid, written as two matrix products (far cheaper on the CPU
    than `F.interpolate`).
    """
    coarse = torch.randn(n, channels, grid, grid, generator=gen, device=gen.device)
    up = _interp_matrix(res, grid, gen.device)
    return up @ coarse @ up.T


def _ramp(n: int, res: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 1, res, res) position along a random direction, 0..~1.4 across the image."""
    theta = _rand((n, 1, 1, 1), gen, gen.device, 0, 2 * math.pi)
    coords = torch.arange(res, device=gen.device, dtype=torch.float32) / res
    return coords[None, None, None, :] * torch.cos(theta) + coords[None, None, :, None] * torch.sin(theta)


def procedural_backgrounds(n: int, res: int, gen: torch.Generator) -> torch.Tensor:
    """Random procedural textures: colour noise, gradients, stripes, fine grain, with shading.

    Args:
        n: number of images.
        res: side in pixels.
        gen: random generator; the result lives on its device.

    Returns:
        (n, 3, res, res) float32 RGB in [0, 1].
    """
    device = gen.device
    kind = torch.randint(0, 4, (n,), generator=gen, device=device)
    c1, c2 = _colours(n, gen, device)[..., None, None], _colours(n, gen, device)[..., None, None]
    out = torch.empty(n, 3, res, res, device=device)
    for k in range(4):
        idx = (kind == k).nonzero().squeeze(1)
        m = idx.numel()
        if m == 0:
            continue
        a, b = c1[idx], c2[idx]
        if k == 0:  # blotches at two scales, mostly in brightness, a little in colour
            noise = _smooth_noise(m, res, 3, gen, channels=1).mul_(0.2)
            noise = noise + 0.1 * _smooth_noise(m, res, 9, gen, channels=1)
            noise = noise + 0.06 * _smooth_noise(m, res, 5, gen)
            out.index_copy_(0, idx, noise.add_(a))  # far cheaper than out[idx] = ...
        elif k == 1:  # linear gradient
            t = _ramp(m, res, gen).mul_(_rand((m, 1, 1, 1), gen, device, 0.5, 1.5)).clamp_(0, 1)
            out.index_copy_(0, idx, t * (b - a) + a)
        elif k == 2:  # stripes, from soft to hard edged
            freq = _rand((m, 1, 1, 1), gen, device, 2, 16) * 2 * math.pi
            phase = _rand((m, 1, 1, 1), gen, device, 0, 2 * math.pi)
            sharp = _rand((m, 1, 1, 1), gen, device, 1, 12)
            t = _ramp(m, res, gen).mul_(freq).add_(phase).sin_().mul_(sharp).sigmoid_()
            out.index_copy_(0, idx, t * (b - a) + a)
        else:  # fine grain (fabric, carpet, wood-ish): mostly brightness, a little colour
            grid = int(torch.randint(16, 48, (1,), generator=gen, device=device))
            tex = _smooth_noise(m, res, grid, gen, channels=1).mul_(0.1)
            tex = tex + 0.03 * _smooth_noise(m, res, grid, gen)
            out.index_copy_(0, idx, tex.add_(a).add_((b - a) * 0.3 * _smooth_noise(m, res, 4, gen, channels=1)))
    # Uneven illumination over the whole scene.
    return out.mul_(_smooth_noise(n, res, 2, gen, channels=1).mul_(0.25).add_(1)).clamp_(0, 1)


def _crop_windows(height: int, width: int, count: int, avoid: Sequence[Sequence[float]],
                  rng: np.random.Generator, tries: int = 20) -> list[tuple[int, int, int]]:
    """Up to `count` square windows (x, y, side) inside the image that miss every avoided box."""
    grown = []
    for x0, y0, x1, y1 in avoid:
        mx, my = _AVOID_MARGIN * (x1 - x0), _AVOID_MARGIN * (y1 - y0)
        grown.append((x0 - mx, y0 - my, x1 + mx, y1 + my))
    windows = []
    short = min(height, width)
    for _ in range(count * tries):
        side = int(rng.uniform(0.25, 1.0) * short)
        if side < 16:
            break
        x, y = int(rng.integers(0, width - side + 1)), int(rng.integers(0, height - side + 1))
        if all(x + side <= a or x >= c or y + side <= b or y >= d for a, b, c, d in grown):
            windows.append((x, y, side))
            if len(windows) == count:
                break
    return windows


class BackgroundBank:
    """Square photo patches without hands, held as one uint8 tensor, for crop backgrounds.

    Attributes:
        patches: (N, 3, res, res) uint8 RGB on the bank's device.
    """

    def __init__(self, patches: torch.Tensor) -> None:
        """Wrap prepared patches.

        Args:
            patches: (N, 3, res, res) uint8 RGB, N >= 1.

        Raises:
            ValueError: wrong shape, dtype or an empty bank.
        """
        if patches.dim() != 4 or patches.shape[1] != 3 or patches.dtype != torch.uint8 or not len(patches):
            raise ValueError(f"patches must be non-empty (N, 3, H, W) uint8, got "
                             f"{tuple(patches.shape)} {patches.dtype}")
        self.patches = patches

    def __len__(self) -> int:
        return self.patches.shape[0]

    def to(self, device: torch.device | str) -> "BackgroundBank":
        return BackgroundBank(self.patches.to(device))

    @classmethod
    def from_folder(cls, folder: str | Path, res: int, patches_per_image: int = 2,
                    max_images: int | None = 1000, avoid_boxes: Mapping[str, Sequence] | None = None,
                    seed: int = 0) -> "BackgroundBank":
        """Cut random square patches from the images under a folder (recursively).

        Args:
            folder: directory of photos (jpg, png, bmp, webp).
            res: patch side in pixels after resizing.
            patches_per_image: windows cut from each image.
            max_images: use at most this many images, picked at random (None = all).
            avoid_boxes: optional map from an image's path relative to `folder` (POSIX separators)
                to boxes [x0, y0, x1, y1] in its pixels that must stay out of every patch, e.g. the
                hands a teacher found there.
            seed: seeds the choice of images and windows.

        Returns:
            A bank on the CPU; unreadable images are skipped with a warning.

        Raises:
            FileNotFoundError: `folder` is not a directory.
            ValueError: no usable patch could be cut.
        """
        root = Path(folder)
        if not root.is_dir():
            raise FileNotFoundError(f"background folder not found: {root}")
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        rng = np.random.default_rng(seed)
        if max_images is not None and len(files) > max_images:
            files = [files[i] for i in sorted(rng.choice(len(files), max_images, replace=False))]
        avoid_boxes = avoid_boxes or {}
        patches, unreadable = [], 0
        for path in files:
            try:
                image = read_rgb(path)
            except (OSError, ValueError):
                unreadable += 1
                continue
            boxes = avoid_boxes.get(path.relative_to(root).as_posix(), ())
            for x, y, side in _crop_windows(*image.shape[:2], patches_per_image, boxes, rng):
                patches.append(cv2.resize(image[y:y + side, x:x + side], (res, res),
                                          interpolation=cv2.INTER_AREA))
        if unreadable:
            log.warning("skipped %d unreadable image(s) under %s", unreadable, root)
        if not patches:
            raise ValueError(f"no background patch could be cut from {len(files)} image(s) under {root}")
        return cls(torch.from_numpy(np.stack(patches)).permute(0, 3, 1, 2).contiguous())

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """n random patches, randomly mirrored and rotated by multiples of 90 degrees.

        Returns:
            (n, 3, res, res) float32 RGB in [0, 1] on the bank's device.
        """
        device = self.patches.device
        pick = torch.randint(0, len(self), (n,), generator=gen, device=gen.device).to(device)
        out = self.patches[pick].float().div_(255)
        flip = (torch.rand(n, generator=gen, device=gen.device) < 0.5).to(device)
        out = torch.where(flip[:, None, None, None], out.flip(3), out)
        turn = (torch.rand(n, generator=gen, device=gen.device) < 0.3).to(device)
        return torch.where(turn[:, None, None, None], out.transpose(2, 3), out)


def _pixel_grid(res: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    coords = torch.arange(res, device=device, dtype=torch.float32)
    return coords[None, None, :], coords[None, :, None]  # x (1, 1, W), y (1, H, 1)


def shape_alpha(centre: torch.Tensor, radius: torch.Tensor, res: int, gen: torch.Generator) -> torch.Tensor:
    """Random solid shapes (ellipses or convex polygons) with anti-aliased edges.

    Args:
        centre: (n, 2) shape centres, pixels.
        radius: (n,) rough shape radii, pixels.
        res: image side.
        gen: random generator on the device of `centre`.

    Returns:
        (n, res, res) float32 coverage in [0, 1].
    """
    n, device = centre.shape[0], centre.device
    xs, ys = _pixel_grid(res, device)
    px, py = xs - centre[:, 0, None, None], ys - centre[:, 1, None, None]
    # Ellipse: approximate signed distance from the normalised radius.
    theta = _rand((n, 1, 1), gen, device, 0, math.pi)
    ax = radius[:, None, None] * _rand((n, 1, 1), gen, device, 0.5, 1.0)
    ay = radius[:, None, None] * _rand((n, 1, 1), gen, device, 0.2, 1.0)
    u = px * torch.cos(theta) + py * torch.sin(theta)
    v = -px * torch.sin(theta) + py * torch.cos(theta)
    ellipse = (1 - torch.sqrt((u / ax) ** 2 + (v / ay) ** 2)) * torch.minimum(ax, ay)
    # Convex polygon: the smallest signed distance to its edge lines, each oriented to keep the
    # centre inside, so the intersection of half-planes is never empty.
    corners = 6
    angles = torch.sort(_rand((n, corners), gen, device, 0, 2 * math.pi), dim=1).values
    r = radius[:, None] * _rand((n, corners), gen, device, 0.5, 1.0)
    vx, vy = r * torch.cos(angles), r * torch.sin(angles)
    ex, ey = vx.roll(-1, 1) - vx, vy.roll(-1, 1) - vy
    norm = torch.sqrt(ex * ex + ey * ey).clamp(min=1e-6)
    cross_at_centre = ey * vx - ex * vy  # ex * (0 - vy) - ey * (0 - vx)
    sign = torch.where(cross_at_centre >= 0, 1.0, -1.0) / norm
    polygon = ((ex * sign)[..., None, None] * (py[:, None] - vy[..., None, None])
               - (ey * sign)[..., None, None] * (px[:, None] - vx[..., None, None])).amin(1)
    use_ellipse = _rand((n, 1, 1), gen, device) < 0.4
    return (torch.where(use_ellipse, ellipse, polygon) + 0.5).clamp_(0, 1)


def _segment_distance(px, py, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Distance from pixels to segments a-b; px (n,1,W)-like grids, a/b (n, 2)."""
    ab = b - a
    ax, ay = px - a[:, 0, None, None], py - a[:, 1, None, None]
    t = ((ax * ab[:, 0, None, None] + ay * ab[:, 1, None, None])
         / (ab * ab).sum(1).clamp(min=1e-6)[:, None, None]).clamp(0, 1)
    return torch.sqrt((ax - t * ab[:, 0, None, None]) ** 2 + (ay - t * ab[:, 1, None, None]) ** 2)


def hand_blob_alpha(centre: torch.Tensor, size: torch.Tensor, res: int, gen: torch.Generator) -> torch.Tensor:
    """A crude hand silhouette (palm plus four or five finger capsules), as a distractor hand.

    Args:
        centre: (n, 2) palm centres, pixels.
        size: (n,) hand length, pixels.
        res: image side.
        gen: random generator on the device of `centre`.

    Returns:
        (n, res, res) float32 coverage in [0, 1].
    """
    n, device = centre.shape[0], centre.device
    xs, ys = _pixel_grid(res, device)
    heading = _rand((n,), gen, device, 0, 2 * math.pi)
    up = torch.stack([torch.cos(heading), torch.sin(heading)], 1)
    side = torch.stack([-up[:, 1], up[:, 0]], 1)
    palm_r = 0.22 * size
    dist = _segment_distance(xs, ys, centre - 0.1 * size[:, None] * up,
                             centre + 0.1 * size[:, None] * up) - palm_r[:, None, None]
    for i, (offset, length) in enumerate(((-1.5, 0.42), (-0.5, 0.48), (0.5, 0.45), (1.5, 0.36), (2.6, 0.32))):
        curl = _rand((n, 1), gen, device, 0.3, 1.0)
        base = centre + 0.25 * size[:, None] * up + offset * 0.1 * size[:, None] * side
        direction = up if i < 4 else F.normalize(side + 0.4 * up, dim=1)
        tip = base + curl * length * size[:, None] * direction
        finger = _segment_distance(xs, ys, base, tip) - (0.055 * size)[:, None, None]
        dist = torch.minimum(dist, finger)
    return (0.5 - dist).clamp_(0, 1)
