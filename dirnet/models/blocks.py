"""Building blocks of Iterative ResNet9 (IR9) and DIR-Net's heads."""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["LoopNorm", "BasicBlock", "Stem", "AttentionMapGenerator", "UpsampleFeedback",
           "SpatialReadout", "PoseHead", "UncertaintyHead", "ExitGate"]


class LoopNorm(nn.Module):
    """One BatchNorm per refiner loop: attention changes the input statistics every loop (Sec. 3.1)."""

    def __init__(self, channels: int, num_loops: int = 1):
        super().__init__()
        self.norms = nn.ModuleList(nn.BatchNorm2d(channels) for _ in range(num_loops))

    def forward(self, x: torch.Tensor, loop: int = 0) -> torch.Tensor:
        return self.norms[loop](x)


class BasicBlock(nn.Module):
    """ResNet BasicBlock whose BatchNorms are chosen by loop index (one loop outside the refiner)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1, num_loops: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, stride, 1, bias=False)
        self.bn1 = LoopNorm(out_ch, num_loops)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, 1, 1, bias=False)
        self.bn2 = LoopNorm(out_ch, num_loops)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_ch != out_ch:
            self.downsample = nn.Conv2d(in_ch, out_ch, 1, stride, bias=False)
            self.bn_down = LoopNorm(out_ch, num_loops)

    def forward(self, x: torch.Tensor, loop: int = 0) -> torch.Tensor:
        identity = x if self.downsample is None else self.bn_down(self.downsample(x), loop)
        out = self.relu(self.bn1(self.conv1(x), loop))
        out = self.bn2(self.conv2(out), loop)
        return self.relu(out + identity)


class Stem(nn.Module):
    """ResNet stem: 7x7 stride-2 conv and 3x3 stride-2 max-pool (224 -> 56)."""

    def __init__(self, out_ch: int):
        super().__init__()
        self.conv = nn.Conv2d(3, out_ch, 7, 2, 3, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.pool = nn.MaxPool2d(3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


class SpatialReadout(nn.Module):
    """Where the refiner's features are: a 1x1 conv to a few channels, flattened over the map and
    mapped back to the pooled width. Global pooling alone discards position, which a regressor
    then has to rediscover from far more data than we have (docs/GENERALISATION.md)."""

    def __init__(self, channels: int, side: int, reduced: int = 16):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(channels, reduced, 1), nn.ReLU(inplace=True))
        self.fc = nn.Linear(reduced * side * side, channels)

    def forward(self, refined: torch.Tensor) -> torch.Tensor:
        return self.fc(self.reduce(refined).flatten(1))


class AttentionMapGenerator(nn.Module):
    """Pixel-shuffle decoder from the refiner's output to a [0, 1] map shaped like FE's output.

    Each x2 stage is a 1x1 conv doubling the channels followed by PixelShuffle(2), which quarters
    them: channels halve while resolution doubles, so the refiner's 8C @ res/32 arrives at FE's
    width and resolution for every loop point. Two 3x3 convs then mix neighbourhoods at full size.
    """

    def __init__(self, in_ch: int, num_stages: int):
        super().__init__()
        layers: list[nn.Module] = []
        ch = in_ch
        for _ in range(num_stages):
            layers += [nn.Conv2d(ch, 2 * ch, 1), nn.PixelShuffle(2), nn.ReLU(inplace=True)]
            ch //= 2
        layers += [nn.Conv2d(ch, ch, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv2d(ch, ch, 3, 1, 1),
                   nn.Sigmoid()]
        self.decoder = nn.Sequential(*layers)
        self.out_channels = ch

    def forward(self, refined: torch.Tensor) -> torch.Tensor:
        return self.decoder(refined)


class UpsampleFeedback(nn.Module):
    """Table 3's "iteration without AMG": pixel-shuffled, upsampled features, no parameters."""

    def __init__(self, num_stages: int):
        super().__init__()
        self.factor = 2**num_stages

    def forward(self, refined: torch.Tensor) -> torch.Tensor:
        shuffled = nn.functional.pixel_shuffle(refined, 2).mean(1, keepdim=True)
        return torch.sigmoid(nn.functional.interpolate(shuffled, scale_factor=self.factor // 2))


class PoseHead(nn.Module):
    """Psi_pose: two FC layers -> pose theta (15x3), shape, rotation 6D, translation (2), scale (1)."""

    def __init__(self, in_dim: int, fc_dim: int, num_shape: int):
        super().__init__()
        self.sizes = (45, num_shape, 6, 2, 1)
        self.fc1 = nn.Linear(in_dim, fc_dim)
        self.fc2 = nn.Linear(fc_dim, sum(self.sizes))
        # Start near the rest pose, identity rotation, centred hand: small weights, zero bias.
        nn.init.normal_(self.fc2.weight, std=1e-3)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return torch.split(self.fc2(torch.relu(self.fc1(h))), self.sizes, dim=-1)


class UncertaintyHead(nn.Module):
    """Psi_var = Psi_var2(Psi_var1(.)): alpha = log sigma^2 for 21 x (2D + 3D) coordinates (Eq. 7).

    The hidden feature f = Psi_var1(h) is returned too: it is the exit gate's input (Sec. 4.2).
    """

    def __init__(self, in_dim: int, fc_dim: int, num_joints: int = 21):
        super().__init__()
        self.num_joints = num_joints
        self.var1 = nn.Sequential(nn.Linear(in_dim, fc_dim), nn.ReLU(inplace=True))
        self.var2 = nn.Linear(fc_dim, num_joints * 5)
        nn.init.normal_(self.var2.weight, std=1e-3)
        nn.init.constant_(self.var2.bias, 3.0)  # start uncertain: sigma ~ 4.5 px / mm

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.var1(h)
        alpha = self.var2(f).view(-1, self.num_joints, 5)
        return alpha[..., :2], alpha[..., 2:], f


class ExitGate(nn.Module):
    """G: a two-layer MLP on f giving logits for the actions (EXIT, CONTINUE)."""

    def __init__(self, in_dim: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 2))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.mlp(f)
