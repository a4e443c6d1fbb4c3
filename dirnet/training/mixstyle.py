"""MixStyle (Zhou et al., "Domain Generalization with MixStyle", ICLR 2021) for training only.

Early feature maps carry an image's style (its person's skin, room, light and camera) in their
per-channel means and standard deviations. Re-styling each sample with a random mix of its own
statistics and another sample's makes those statistics useless for telling hands apart, so the
network cannot memorise a few people and rooms through them. Attached as forward hooks, so the
model and its checkpoints are unchanged and inference never sees it.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["mix_styles", "attach_mixstyle"]

_EPS = 1e-6


def mix_styles(x: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Sample i of (B, C, H, W) `x`, normalised per channel and given the statistics
    lam[i] * own + (1 - lam[i]) * those of sample perm[i]; lam (B,) in [0, 1]."""
    mean = x.mean((2, 3), keepdim=True).detach()
    std = (x.var((2, 3), keepdim=True) + _EPS).sqrt().detach()  # no gradient through the style
    w = lam.view(-1, 1, 1, 1).to(x.dtype)
    return (x - mean) / std * (w * std + (1 - w) * std[perm]) + (w * mean + (1 - w) * mean[perm])


def attach_mixstyle(model: nn.Module, layers: list[nn.Module], prob: float, alpha: float = 0.1
                    ) -> list[torch.utils.hooks.RemovableHandle]:
    """Re-style the outputs of `layers` with probability `prob` per batch while `model` trains.

    The mixing weight of each sample is Beta(alpha, alpha) (the paper's 0.1: mostly near 0 or 1)
    and its partner a random other sample of the batch, which mixes renders, folders and people.
    Returns the hooks' handles (`handle.remove()` detaches them).
    """
    beta = torch.distributions.Beta(torch.tensor(alpha), torch.tensor(alpha))

    def hook(_module, _inputs, out):
        if not model.training or out.shape[0] < 2 or torch.rand(()) >= prob:
            return out
        batch = out.shape[0]
        return mix_styles(out, beta.sample((batch,)).to(out.device), torch.randperm(batch, device=out.device))

    return [layer.register_forward_hook(hook) for layer in layers]
