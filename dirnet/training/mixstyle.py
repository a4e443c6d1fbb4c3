"""MixStyle (Zhou et al., "Domain Generalization with MixStyle", ICLR 2021) for training only.

Early feature maps carry an image's style (its person's skin, room, light and camera) in their
per-channel means and standard deviations. Re-styling each sample with a random mix of its own
statistics and another sample's makes those statistics useless for telling hands apart, so the
network cannot memorise a few people and rooms through them. Attached as forward hooks, so the
model and its checkpoints are unchanged and inference never sees it.

Two ways to mix: "moments" (MixStyle: per-channel mean and standard deviation) and "exact"
(EFDMix: Zhang et al., "Exact Feature Distribution Matching for Arbitrary Style Transfer and
Domain Generalization", CVPR 2022), which moves every value towards the partner's value of the
same rank within the channel, so the whole distribution (skew, highlights, the share of skin
against background) is mixed, not only its first two moments.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["mix_styles", "mix_sorted", "MIXERS", "attach_mixstyle"]

_EPS = 1e-6


def mix_styles(x: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Sample i of (B, C, H, W) `x`, normalised per channel and given the statistics
    lam[i] * own + (1 - lam[i]) * those of sample perm[i]; lam (B,) in [0, 1]."""
    mean = x.mean((2, 3), keepdim=True).detach()
    std = (x.var((2, 3), keepdim=True) + _EPS).sqrt().detach()  # no gradient through the style
    w = lam.view(-1, 1, 1, 1).to(x.dtype)
    return (x - mean) / std * (w * std + (1 - w) * std[perm]) + (w * mean + (1 - w) * mean[perm])


def mix_sorted(x: torch.Tensor, lam: torch.Tensor, perm: torch.Tensor) -> torch.Tensor:
    """Sample i of (B, C, H, W) `x` with every value of a channel moved to lam[i] * itself +
    (1 - lam[i]) * the value of the same rank in sample perm[i]'s channel; lam (B,) in [0, 1].
    Each channel keeps its spatial order (the content). The shift carries no gradient (the paper lets
    it flow into the partner's values; here, as in `mix_styles`, the style is a constant)."""
    flat = x.flatten(2)
    ranked, order = flat.sort(-1)
    shift = ((1 - lam.view(-1, 1, 1).to(x.dtype)) * (ranked[perm] - ranked)).detach()
    return (flat + torch.zeros_like(flat).scatter_(-1, order, shift)).view_as(x)


MIXERS = {"moments": mix_styles, "exact": mix_sorted}


def attach_mixstyle(model: nn.Module, layers: list[nn.Module], prob: float, alpha: float = 0.1,
                    kind: str = "moments") -> list[torch.utils.hooks.RemovableHandle]:
    """Re-style the outputs of `layers` with probability `prob` per batch while `model` trains.

    The mixing weight of each sample is Beta(alpha, alpha) (the paper's 0.1: mostly near 0 or 1)
    and its partner a random other sample of the batch, which mixes renders, folders and people.
    `kind` names the mixer in MIXERS. Returns the hooks' handles (`handle.remove()` detaches them).
    """
    mix = MIXERS[kind]
    beta = torch.distributions.Beta(torch.tensor(alpha), torch.tensor(alpha))

    def hook(_module, _inputs, out):
        if not model.training or out.shape[0] < 2 or torch.rand(()) >= prob:
            return out
        batch = out.shape[0]
        return mix(out, beta.sample((batch,)).to(out.device), torch.randperm(batch, device=out.device))

    return [layer.register_forward_hook(hook) for layer in layers]
