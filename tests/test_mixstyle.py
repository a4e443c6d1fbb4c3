"""MixStyle: the re-styled features carry the mixed statistics, and only while the model trains."""
from __future__ import annotations

import pytest
import torch

from dirnet.models.dirnet import dirnet_fpha
from dirnet.training.mixstyle import attach_mixstyle, mix_sorted, mix_styles


def _stats(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return x.mean((2, 3)), x.std((2, 3), unbiased=False)


def test_mixed_features_take_the_mixed_channel_statistics():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 8, 8, generator=gen) * torch.tensor([1.0, 3.0, 0.5]).view(1, 3, 1, 1) + 2.0
    x[1] = x[1] * 4.0 - 7.0  # a sample with a very different style
    perm = torch.tensor([1, 0, 3, 2])
    mean, std = _stats(x)

    kept = mix_styles(x, torch.ones(4), perm)
    assert torch.allclose(kept, x, atol=1e-4)  # lam = 1: every sample keeps its own style

    lam = torch.tensor([0.0, 0.25, 1.0, 0.5])
    mixed = mix_styles(x, lam, perm)
    w = lam.view(-1, 1)
    new_mean, new_std = _stats(mixed)
    assert torch.allclose(new_mean, w * mean + (1 - w) * mean[perm], atol=1e-4)
    assert torch.allclose(new_std, w * std + (1 - w) * std[perm], atol=1e-3)
    # the content (the normalised map) is the sample's own
    normalised = (mixed - new_mean[..., None, None]) / new_std[..., None, None]
    assert torch.allclose(normalised, (x - mean[..., None, None]) / std[..., None, None], atol=1e-3)


def test_exact_mixing_takes_the_partners_distribution_and_keeps_the_content():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(3, 2, 6, 6, generator=gen)
    x[1] = x[1].exp() * 3  # a skewed distribution: more than its mean and std differ
    perm = torch.tensor([1, 2, 0])
    assert torch.allclose(mix_sorted(x, torch.ones(3), perm), x)

    lam = torch.tensor([0.0, 0.5, 1.0])
    mixed = mix_sorted(x, lam, perm)
    ranked, mixed_ranked = x.flatten(2).sort(-1).values, mixed.flatten(2).sort(-1).values
    assert torch.allclose(mixed_ranked[0], ranked[1], atol=1e-6)  # lam 0: exactly the partner's values
    assert torch.allclose(mixed_ranked[1], 0.5 * ranked[1] + 0.5 * ranked[2], atol=1e-6)
    assert torch.equal(mixed.flatten(2).argsort(-1), x.flatten(2).argsort(-1))  # same spatial order
    x.requires_grad_(True)
    mix_sorted(x, lam, perm).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))  # the style shift passes no gradient


@pytest.mark.parametrize("kind", ["moments", "exact"])
def test_hooks_restyle_a_real_model_in_training_only(kind):
    torch.manual_seed(0)
    model = dirnet_fpha(input_res=64, max_loops=2)
    images = torch.rand(6, 3, 64, 64)
    images[:3] *= 0.3  # two styles in the batch: dark and bright
    model.eval()
    with torch.no_grad():
        plain = model.forward_features(images)
    handles = attach_mixstyle(model, [model.stem, model.fe_stages[0]], prob=1.0, kind=kind)
    with torch.no_grad():
        assert torch.equal(model.forward_features(images), plain)  # inference never mixes
        model.train()
        for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.eval()  # the same normalisation as above: only the hooks differ
        assert not torch.allclose(model.forward_features(images), plain, atol=1e-3)
        for handle in handles:
            handle.remove()
        assert torch.equal(model.forward_features(images), plain)
