"""An auxiliary 2D heatmap loss on the feature extractor's map, for training only.

DIR-Net's heads read a globally pooled map, and regressors of that kind are known to need far
more data than we have to learn *where* a joint is. A 1x1 convolution from FE's map (the map the
refiner and its attention read, R/8 on a side) to one heatmap per joint, read out by soft-argmax
(integral regression: Sun et al., "Integral Human Pose Regression", ECCV 2018), is trained beside
the network so that FE's features must say where each joint lies. The probe is not part of the
model: checkpoints and inference are unchanged, and the training loop keeps its weights beside
its optimizer state for resuming.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["HeatmapProbe"]


class HeatmapProbe(nn.Module):
    """21 heatmaps from a (B, C, H, W) map, each read out as its expected position.

    Args:
        channels: C of the map it reads.
        input_res: side of the network input, px; positions come out in its pixels.
        joints: heatmaps (one per joint).
    """

    def __init__(self, channels: int, input_res: int, joints: int = 21):
        super().__init__()
        self.conv = nn.Conv2d(channels, joints, 1)
        self.input_res = input_res
        self.features: torch.Tensor | None = None

    def attach(self, layer: nn.Module) -> torch.utils.hooks.RemovableHandle:
        """Keep `layer`'s latest output for `forward` (a forward hook; returns its handle)."""
        def hook(_module, _inputs, out):
            self.features = out

        return layer.register_forward_hook(hook)

    def forward(self, features: torch.Tensor | None = None) -> torch.Tensor:
        """(B, joints, 2) soft-argmax positions in input px, of `features` or the attached layer's
        latest output. Cell centres are at (i + 0.5) * stride - 0.5, as the crop's pixel grid."""
        x = self.features if features is None else features
        logits = self.conv(x.float())
        b, j, h, w = logits.shape
        prob = logits.flatten(2).softmax(-1).view(b, j, h, w)
        xs = (torch.arange(w, device=x.device) + 0.5) * (self.input_res / w) - 0.5
        ys = (torch.arange(h, device=x.device) + 0.5) * (self.input_res / h) - 0.5
        return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], dim=-1)
