"""Inference-only stage modules of a DIRNet, with every BatchNorm folded into its convolution.

DIRNet's refiner keeps one BatchNorm set per loop (Sec. 3.1), so it folds into one plain refiner
per loop index: `InferenceStages.refiners[l]` is loop l's refiner with loop l's statistics baked
into its convolution weights and biases. At inference a BatchNorm is a per-channel affine map, so
folding changes results only by float rounding (tests check 1e-4 relative).

These modules are the single source for every fast backend (eager, TorchScript) and for the ONNX
export, and they keep DIRNet's stage split, so the exit loop stays outside every graph:

    features = features(images)                       once per crop
    refined_l = refiners[l](features[, attention])    every loop
    outputs_l = head(refined_l)                       every loop (pose parameters, uncertainty, gate)
    attention = attention(refined_l)                  only when a sample continues
    joints = joints(outputs_0 .. outputs_last)        once, the rows of every loop run together
    vertices = mesh(skinning, shape)                  once, of the loop each sample exits at
"""
from __future__ import annotations

import copy
from dataclasses import fields

import torch
from torch import nn

from ..models.blocks import BasicBlock
from ..models.dirnet import DIRNet
from ..models.staged import LoopOutput

__all__ = ["fold_conv_bn", "FoldedBlock", "FeatureStage", "RefineStage", "HeadStage", "JointsStage",
           "MeshStage", "InferenceStages", "HEAD_OUTPUTS", "JOINTS_INPUTS", "JOINTS_OUTPUTS", "MESH_INPUTS"]

# Outputs of JointsStage: the hand model's joints and skinning state (DIRNet.forward_joints' keys).
JOINTS_OUTPUTS: tuple[str, ...] = ("joints2d", "joints3d", "skinning")
# Outputs of HeadStage, in LoopOutput's field order: the regressors', all but the hand model's.
HEAD_OUTPUTS: tuple[str, ...] = tuple(f.name for f in fields(LoopOutput)
                                      if f.name not in JOINTS_OUTPUTS + ("vertices",))
# Inputs of JointsStage: the LoopOutput fields DIRNet.forward_joints reads.
JOINTS_INPUTS: tuple[str, ...] = ("pose", "shape", "rotation", "scale", "trans")
# Inputs of MeshStage: the LoopOutput fields DIRNet.forward_mesh reads.
MESH_INPUTS: tuple[str, ...] = ("skinning", "shape")


@torch.no_grad()
def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A convolution computing bn(conv(x)) with bn's running statistics (eval mode).

    Args:
        conv: any groups/stride/padding, with or without bias.
        bn: BatchNorm2d over conv's output channels.
    Returns:
        A new nn.Conv2d with bias; the inputs are not modified.
    """
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                      conv.padding, conv.dilation, conv.groups, bias=True,
                      padding_mode=conv.padding_mode)
    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    fused.bias.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused.eval()


class FoldedBlock(nn.Module):
    """One BasicBlock with loop `loop`'s BatchNorms folded into its three convolutions."""

    def __init__(self, block: BasicBlock, loop: int = 0):
        super().__init__()
        self.conv1 = fold_conv_bn(block.conv1, block.bn1.norms[loop])
        self.conv2 = fold_conv_bn(block.conv2, block.bn2.norms[loop])
        self.downsample = (None if block.downsample is None
                           else fold_conv_bn(block.downsample, block.bn_down.norms[loop]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.conv2(torch.relu(self.conv1(x)))
        return torch.relu(out + identity)


class FeatureStage(nn.Module):
    """FE: (B, 3, R, R) float RGB in [0, 1] -> (B, C_fe, R/s, R/s) features, like forward_features.

    The input normalisation (x - mean) / std is folded too: 1/std scales the stem's input channels
    (exact, since zero padding commutes with a per-channel scale), so only `x - mean` remains.
    """

    def __init__(self, model: DIRNet):
        super().__init__()
        self.register_buffer("mean", model.mean.detach().clone())
        self.stem = fold_conv_bn(model.stem.conv, model.stem.bn)
        with torch.no_grad():
            self.stem.weight.div_(model.std.view(1, -1, 1, 1))
        self.pool = nn.MaxPool2d(3, 2, 1)
        self.blocks = nn.Sequential(*(FoldedBlock(b) for b in model.fe_stages))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(images - self.mean))
        return self.blocks(self.pool(x))


class RefineStage(nn.Module):
    """RF for one loop index, BatchNorms folded; like forward_refine(features, loop, attention)."""

    def __init__(self, model: DIRNet, loop: int):
        super().__init__()
        self.blocks = nn.Sequential(*(FoldedBlock(b, loop) for b in model.rf_stages))

    def forward(self, features: torch.Tensor, attention: torch.Tensor | None = None) -> torch.Tensor:
        return self.blocks(features if attention is None else features * attention)


class HeadStage(nn.Module):
    """forward_head as a flat tuple of tensors (HEAD_OUTPUTS order), so it can be traced/exported.

    The head has no BatchNorm; it runs the model's own pose, uncertainty and gate layers, unchanged.
    """

    def __init__(self, model: DIRNet):
        super().__init__()
        self.model = model

    def forward(self, refined: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model.forward_head(refined)
        return tuple(getattr(out, name) for name in HEAD_OUTPUTS)


class JointsStage(nn.Module):
    """forward_joints on JOINTS_INPUTS tensors: the hand model's joints and skinning state
    (JOINTS_OUTPUTS order) of head outputs, for the rows of any number of loops at once."""

    def __init__(self, model: DIRNet):
        super().__init__()
        self.model = model

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # forward_joints reads only the JOINTS_INPUTS fields; the other head outputs are left None.
        heads = dict.fromkeys(HEAD_OUTPUTS) | dict(zip(JOINTS_INPUTS, tensors))
        posed = self.model.forward_joints(LoopOutput(**heads))
        return tuple(posed[name] for name in JOINTS_OUTPUTS)


class MeshStage(nn.Module):
    """forward_mesh on MESH_INPUTS tensors: the hand's vertices from a head's skinning state."""

    def __init__(self, model: DIRNet):
        super().__init__()
        self.hand = model.hand

    def forward(self, skinning: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        return self.hand.skin(skinning, shape)


class InferenceStages(nn.Module):
    """All stages of one DIRNet, folded with its BatchNorm running statistics (inference semantics).

    Built from a private copy of the model, so moving or converting the stages (device, memory
    format, eval mode) never touches the caller's model.

    Attributes:
        cfg: the model's DIRNetConfig.
        features: FeatureStage.
        refiners: one RefineStage per loop index 0..cfg.max_loops-1.
        attention: the model's attention map generator (no BatchNorm to fold).
        head: HeadStage.
        joints: JointsStage.
        mesh: MeshStage.
    """

    def __init__(self, model: DIRNet):
        super().__init__()
        model = copy.deepcopy(model).eval()
        self.cfg = model.cfg
        self.features = FeatureStage(model)
        self.refiners = nn.ModuleList(RefineStage(model, l) for l in range(model.cfg.max_loops))
        self.attention = model.feedback
        self.head = HeadStage(model)
        self.joints = JointsStage(model)
        self.mesh = MeshStage(model)
        self.eval()
