"""Batch-level augmentations of hand crops that break memorised scenes: the hand pasted on another
background, occluders over part of the hand, and random convolutions of the whole crop.

The hand's silhouette comes from its 2D labels alone (no segmentation): capsules along every bone
and from the wrist to each finger's base cover the fingers and the palm. It includes a thin rim of
the original background, like a rough matte; that is enough to take away the room and the person.
"""
from __future__ import annotations

import torch

from dirnet.data.backgrounds import BackgroundBank, procedural_backgrounds, shape_alpha
from dirnet.hand.skeleton import PARENTS

__all__ = ["skeleton_alpha", "paste_on_backgrounds", "cut_out", "random_backgrounds", "random_convolution"]

_RANDCONV_SIZES = (1, 3, 5)  # kernel sides: colour mixing alone, then local texture at two scales

# Bones (child, parent) plus links between the fingers' bases, which close the palm.
_SEGMENTS = tuple((j, p) for j, p in enumerate(PARENTS) if p >= 0) + ((5, 9), (9, 13), (13, 17), (2, 5))
# Capsule radius per hand size (twice wrist to middle-finger base): wide across the palm.
_RADII = tuple(0.09 if parent == 0 or i >= len(PARENTS) - 1 else 0.06
               for i, (_, parent) in enumerate(_SEGMENTS))


def _hand_size(joints2d: torch.Tensor) -> torch.Tensor:
    """(B,) a hand's length in px: twice the wrist to middle-finger-base distance."""
    return 2.0 * (joints2d[:, 9] - joints2d[:, 0]).norm(dim=-1).clamp_min(4.0)


def skeleton_alpha(joints2d: torch.Tensor, res: int) -> torch.Tensor:
    """(B, res, res) coverage in [0, 1] of the hand's silhouette, anti-aliased over ~2 px.

    Args:
        joints2d: (B, 21, 2) px of the crop (pixel centres at integers).
        res: crop side.
    """
    coords = torch.arange(res, dtype=joints2d.dtype, device=joints2d.device)
    xs, ys = coords[None, None, :], coords[None, :, None]
    size = _hand_size(joints2d)[:, None, None]
    inside = torch.full((joints2d.shape[0], res, res), -1e9, device=joints2d.device)
    for (child, parent), share in zip(_SEGMENTS, _RADII):
        a, b = joints2d[:, parent], joints2d[:, child]
        ab = b - a
        ax, ay = xs - a[:, 0, None, None], ys - a[:, 1, None, None]
        t = ((ax * ab[:, 0, None, None] + ay * ab[:, 1, None, None])
             / (ab * ab).sum(1).clamp(min=1e-6)[:, None, None]).clamp(0, 1)
        dist = torch.sqrt((ax - t * ab[:, 0, None, None]) ** 2 + (ay - t * ab[:, 1, None, None]) ** 2)
        inside = torch.maximum(inside, share * size - dist)
    return (inside * 0.5 + 0.5).clamp_(0, 1)


def random_backgrounds(n: int, res: int, gen: torch.Generator,
                       bank: BackgroundBank | None = None) -> torch.Tensor:
    """(n, 3, res, res) float RGB in [0, 1]: photo patches from `bank` for half, textures for the rest."""
    out = procedural_backgrounds(n, res, gen)
    if bank is not None:
        photo = torch.rand(n, generator=gen, device=gen.device) < 0.5
        if photo.any():
            out[photo] = torch.nn.functional.interpolate(
                bank.sample(int(photo.sum()), gen), size=(res, res), mode="bilinear",
                align_corners=False)
    return out


def paste_on_backgrounds(images: torch.Tensor, joints2d: torch.Tensor, valid: torch.Tensor,
                         prob: float, gen: torch.Generator,
                         bank: BackgroundBank | None = None) -> torch.Tensor:
    """Put a random share of the hands on new backgrounds.

    Args:
        images: (B, 3, R, R) float RGB in [0, 1]; not modified.
        joints2d: (B, 21, 2) crop px.
        valid: (B, 21) 1 where the 2D label is known; only fully labelled hands are pasted.
        prob: chance per hand.
        gen: random generator on the images' device.
        bank: photo patches without hands, or None for procedural textures only.

    Returns:
        (B, 3, R, R) new tensor.
    """
    pick = (torch.rand(images.shape[0], generator=gen, device=gen.device) < prob) & (valid > 0).all(1)
    if not pick.any():
        return images
    idx = pick.nonzero().squeeze(1)
    res = images.shape[-1]
    alpha = skeleton_alpha(joints2d[idx], res)[:, None]
    out = images.clone()
    out[idx] = alpha * images[idx] + (1 - alpha) * random_backgrounds(len(idx), res, gen, bank)
    return out


def cut_out(images: torch.Tensor, joints2d: torch.Tensor, prob: float, gen: torch.Generator,
            bank: BackgroundBank | None = None) -> torch.Tensor:
    """Occlude part of a random share of the hands with a textured shape over one of its joints.

    The labels stay: the network learns to place joints it cannot see from the rest of the hand.

    Args:
        images, joints2d, prob, gen, bank: as `paste_on_backgrounds`.

    Returns:
        (B, 3, R, R) new tensor (or `images` when no hand was picked).
    """
    pick = torch.rand(images.shape[0], generator=gen, device=gen.device) < prob
    if not pick.any():
        return images
    idx = pick.nonzero().squeeze(1)
    n, res = len(idx), images.shape[-1]
    joint = torch.randint(0, joints2d.shape[1], (n,), generator=gen, device=gen.device)
    centre = joints2d[idx, joint] + torch.randn(n, 2, generator=gen, device=gen.device) * 4.0
    radius = _hand_size(joints2d[idx]) * (0.12 + 0.23 * torch.rand(n, generator=gen, device=gen.device))
    alpha = shape_alpha(centre, radius, res, gen)[:, None]
    out = images.clone()
    out[idx] = (1 - alpha) * images[idx] + alpha * random_backgrounds(n, res, gen, bank)
    return out


def random_convolution(images: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    """RandConv (Xu et al., "Robust and Generalizable Visual Representation Learning via Random
    Convolutions", ICLR 2021): a random share of the crops goes through a random convolution of
    their own (one kernel side per call, He-normal weights), blended with the crop by a random
    weight; the result keeps each channel's mean and spread of the crop. Shapes stay, the
    texture and colour mixing that could name a person, skin or camera change every time.

    Args:
        images: (B, 3, R, R) RGB in [0, 1].
        prob: chance of each crop being convolved.
        gen: random generator (on the images' device).
    Returns:
        (B, 3, R, R) new tensor in [0, 1] (or `images` when no crop was picked).
    """
    pick = torch.rand(images.shape[0], generator=gen, device=gen.device) < prob
    if not pick.any():
        return images
    idx = pick.nonzero().squeeze(1)
    n, channels, res = len(idx), images.shape[1], images.shape[-1]
    side = _RANDCONV_SIZES[int(torch.randint(len(_RANDCONV_SIZES), (1,), generator=gen, device=gen.device))]
    weight = torch.randn(n * channels, channels, side, side, generator=gen, device=gen.device) \
        / (channels * side * side) ** 0.5
    x = images[idx]
    padded = torch.nn.functional.pad(x.reshape(1, n * channels, res, res), (side // 2,) * 4, mode="reflect")
    conv = torch.nn.functional.conv2d(padded, weight, groups=n).reshape(n, channels, res, res)
    mean, std = x.mean((2, 3), keepdim=True), x.std((2, 3), keepdim=True)
    conv = (conv - conv.mean((2, 3), keepdim=True)) / conv.std((2, 3), keepdim=True).clamp_min(1e-6) * std + mean
    blend = torch.rand(n, 1, 1, 1, generator=gen, device=gen.device)
    out = images.clone()
    out[idx] = (blend * x + (1 - blend) * conv).clamp(0.0, 1.0)
    return out
