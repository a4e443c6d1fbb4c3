"""Training-crop geometry and appearance augmentation with consistent label transforms.

One crop = one affine (dirnet.crop.crop_matrix) from the source image to the res x res crop:
the box around the 2D joints is jittered in scale and position, turned by an in-plane rotation and,
for left hands, mirrored. The same affine moves the 2D labels, and the matching 3x3 map
(dirnet.crop.crop_rotation_3d: Rz(rotation), then x -> -x when mirrored) turns the wrist-relative
3D labels, so 2D and 3D stay consistent. Appearance changes (colour, blur, noise) touch the pixels
only; they are the synthetic renderer's camera degradations (dirnet.data.photometric), so real
and rendered crops are degraded alike.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dirnet.crop import Box, crop_matrix, crop_rotation_3d, transform_points, warp
from dirnet.data.photometric import colour_jitter, gaussian_blur, sensor_noise

__all__ = ["AugmentConfig", "NO_AUGMENT", "CropParams", "sample_crop_params", "make_crop",
           "photometric"]


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random augmentations (all uniform unless stated)."""

    rotation_deg: float = 30.0                    # in-plane rotation in [-r, r] degrees
    scale: tuple[float, float] = (0.85, 1.3)      # box side multiplier (log-uniform); wide, as users' crops
                                                  # are framed looser or tighter than the teacher's
    shift: float = 0.1                            # box centre jitter, fraction of the box side
    colour: float = 1.0                           # colour_jitter strength (0 = none)
    blur_prob: float = 0.2                        # chance of a Gaussian blur ...
    blur_sigma: float = 1.5                       # ... with sigma in [0.3, this] px (<= 2)
    noise_prob: float = 0.3                       # chance of sensor noise ...
    noise_std: float = 0.04                       # ... of at most this std (RGB in [0, 1])
    background_prob: float = 0.0                  # chance a real crop's hand is pasted on another
                                                  # background (dirnet.data.compose); batch level
    cutout_prob: float = 0.0                      # chance of a random occluder over part of the hand
    randconv_prob: float = 0.0                    # chance of a random convolution of the crop (real
                                                  # and rendered; dirnet.data.compose); batch level


# Evaluation: the plain centred crop.
NO_AUGMENT = AugmentConfig(rotation_deg=0.0, scale=(1.0, 1.0), shift=0.0, colour=0.0,
                           blur_prob=0.0, noise_prob=0.0, background_prob=0.0, cutout_prob=0.0,
                           randconv_prob=0.0)


@dataclass(frozen=True)
class CropParams:
    """One draw of the geometric augmentation.

    scale: box side multiplier. shift: (dx, dy) box-centre offset as fractions of the box side.
    rotation: radians, positive turns the content clockwise on screen (see crop_matrix).
    """

    scale: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)
    rotation: float = 0.0


def sample_crop_params(rng: np.random.Generator, cfg: AugmentConfig) -> CropParams:
    """Draw a CropParams from the ranges of cfg."""
    lo, hi = np.log(cfg.scale[0]), np.log(cfg.scale[1])
    return CropParams(scale=float(np.exp(rng.uniform(lo, hi))),
                      shift=tuple(float(v) for v in rng.uniform(-cfg.shift, cfg.shift, 2)),
                      rotation=float(np.deg2rad(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))))


def make_crop(image: np.ndarray, joints2d: np.ndarray | None, joints3d: np.ndarray | None,
              box: Box, res: int, params: CropParams = CropParams(), mirror: bool = False
              ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None, np.ndarray]:
    """Cut one training crop and move its labels with it.

    Args:
        image: (H, W, 3) uint8 RGB source image.
        joints2d: (21, 2) px of `image` (NaN rows stay NaN), or None.
        joints3d: (21, 3) mm, camera axes (any origin), or None.
        box: the un-augmented square box around the hand, image px.
        res: crop side, px.
        params: geometric augmentation (identity by default).
        mirror: flip horizontally (left hand -> right hand).

    Returns:
        crop (res, res, 3) uint8; joints2d (21, 2) float32 crop px or None; joints3d (21, 3)
        float32 mm wrist-relative in the crop's camera axes or None; the (2, 3) crop affine.
    """
    moved = Box(box.cx + params.shift[0] * box.size, box.cy + params.shift[1] * box.size,
                box.size * params.scale)
    matrix = crop_matrix(moved, res, params.rotation, mirror)
    crop = warp(image, matrix, res)
    out2d = None if joints2d is None else transform_points(joints2d, matrix).astype(np.float32)
    out3d = None
    if joints3d is not None:
        relative = np.asarray(joints3d, np.float64) - joints3d[0]
        out3d = (relative @ crop_rotation_3d(params.rotation, mirror).T).astype(np.float32)
    return crop, out2d, out3d, matrix


def photometric(image: torch.Tensor, gen: torch.Generator, cfg: AugmentConfig) -> torch.Tensor:
    """Random colour jitter, blur and sensor noise on one crop.

    Args:
        image: (3, H, W) float RGB in [0, 1].
        gen: torch generator on the image's device.
        cfg: strengths and probabilities.

    Returns:
        (3, H, W) float RGB in [0, 1] (the input itself when nothing was applied).
    """
    x = image[None]
    if cfg.colour > 0:
        x = colour_jitter(x, gen, cfg.colour)
    draws = torch.rand(3, generator=gen, device=gen.device)
    if draws[0] < cfg.blur_prob:
        x = gaussian_blur(x, 0.3 + draws[2:3] * (cfg.blur_sigma - 0.3))
    if draws[1] < cfg.noise_prob:
        x = sensor_noise(x, gen, cfg.noise_std)
    return x[0]
