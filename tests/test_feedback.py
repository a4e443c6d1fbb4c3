"""The attention-feedback variants measured by `profile feedback` (dirnet.runtime.feedback)."""
from __future__ import annotations

import torch

from dirnet.models.blocks import AttentionMapGenerator
from dirnet.runtime.feedback import HalfResAMG, TransposedAMG


def _amg(seed: int = 0) -> AttentionMapGenerator:
    torch.manual_seed(seed)
    amg = AttentionMapGenerator(128, 2).eval()
    with torch.no_grad():
        for conv in amg.decoder:
            if isinstance(conv, torch.nn.Conv2d):
                conv.bias.uniform_(-0.5, 0.5)  # per-(a, b) biases differ, as trained ones do
    return amg


@torch.no_grad()
def test_transposed_convolution_is_exactly_conv_then_pixel_shuffle():
    amg = _amg()
    refined = torch.randn(3, 128, 4, 4)
    want = amg(refined)
    got = TransposedAMG(amg, side=4)(refined)
    assert got.shape == want.shape == (3, 32, 16, 16)
    assert float((got - want).abs().max()) < 1e-5


@torch.no_grad()
def test_half_resolution_map_has_the_fast_paths_shape_but_is_an_approximation():
    amg = _amg(1)
    refined = torch.randn(2, 128, 4, 4)
    want, got = amg(refined), HalfResAMG(amg)(refined)
    assert got.shape == want.shape and 0 <= float(got.min()) and float(got.max()) <= 1
    assert torch.equal(got[..., 0::2, 0::2], got[..., 1::2, 1::2])  # nearest-upsampled 8x8 map
    assert float((got - want).abs().max()) > 1e-3
