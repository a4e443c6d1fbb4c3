"""DIR-Net: Dynamic Iterative Refinement for Efficient 3D Hand Pose Estimation (Yang et al., WACV 2022).

Paper: https://openaccess.thecvf.com/content/WACV2022/html/Yang_Dynamic_Iterative_Refinement_for_Efficient_3D_Hand_Pose_Estimation_WACV_2022_paper.html

Iterative ResNet9: a Feature Extractor (FE) runs once; the Refiner (RF, the last IR9 stages, with one
BatchNorm set per loop) runs again and again on FE's features multiplied by an attention map the
Attention Map Generator (AMG) decodes from the previous loop. Every loop predicts a hand (pose,
shape, rotation, weak-perspective camera), its own uncertainty, and an exit decision.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import DIRNetConfig
from ..geometry import rot6d_to_matrix, weak_perspective
from ..hand.base import HandModel
from .blocks import (AttentionMapGenerator, BasicBlock, ExitGate, PoseHead, SpatialReadout, Stem,
                     UncertaintyHead, UpsampleFeedback)
from .staged import LoopOutput, forward_loops

__all__ = ["DIRNet", "create_model", "dirnet_fpha", "dirnet_stb", "IMAGE_MEAN", "IMAGE_STD",
           "REFERENCE_RES"]

# ImageNet statistics; the network normalises internally so callers pass RGB in [0, 1].
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
# 2D variances and losses are measured in pixels of a 224 px crop whatever the input resolution.
REFERENCE_RES = 224
_IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


class DIRNet(nn.Module):
    """Iterative ResNet9 + pose predictor + uncertainty + exit gate.

    Args:
        cfg: architecture; see DIRNetConfig.
        hand: the hand model mapping (rotation, pose, shape) to joints; kept out of state_dict.
    """

    def __init__(self, cfg: DIRNetConfig, hand: HandModel):
        super().__init__()
        if hand.num_shape != cfg.num_shape:
            raise ValueError(f"hand model {hand.name!r} has {hand.num_shape} shape parameters, "
                             f"config expects {cfg.num_shape}")
        self.cfg = cfg
        c, loops = cfg.base_channels, cfg.max_loops
        widths = (c, 2 * c, 4 * c, 8 * c)
        strides = (1, 2, 2, 2)
        split = cfg.loop_point - 1  # stages before the loop point belong to FE
        ins = (c,) + widths[:-1]
        self.stem = Stem(c)
        self.fe_stages = nn.ModuleList(BasicBlock(ins[i], widths[i], strides[i]) for i in range(split))
        self.rf_stages = nn.ModuleList(
            BasicBlock(ins[i], widths[i], strides[i], num_loops=loops) for i in range(split, 4))
        num_up = sum(1 for s in strides[split:] if s == 2)
        self.feedback = (AttentionMapGenerator(widths[-1], num_up) if cfg.feedback == "amg"
                         else UpsampleFeedback(num_up))
        self.readout = (SpatialReadout(widths[-1], cfg.input_res // 32) if cfg.head == "spatial"
                        else None)
        self.pose_head = PoseHead(widths[-1], cfg.fc_dim, cfg.num_shape)
        self.var_head = UncertaintyHead(widths[-1], cfg.fc_dim)
        self.gate = ExitGate(cfg.fc_dim, cfg.gate_hidden)
        self.register_buffer("mean", torch.tensor(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGE_STD).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("identity_6d", torch.tensor(_IDENTITY_6D), persistent=False)
        self.hand = hand

    # The three stages of a forward pass (timm's forward_features / intermediates / head split).
    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """FE: (B, 3, R, R) RGB in [0, 1] -> features (B, C_fe, R/8, R/8) at the default loop point."""
        x = self.stem((images - self.mean) / self.std)
        for stage in self.fe_stages:
            x = stage(x)
        return x

    def forward_refine(self, features: torch.Tensor, loop: int,
                       attention: torch.Tensor | None = None) -> torch.Tensor:
        """RF with loop `loop`'s BatchNorms on FE features, attention-weighted after loop 0."""
        x = features if attention is None else features * attention
        for stage in self.rf_stages:
            x = stage(x, loop)
        return x

    def attention(self, refined: torch.Tensor) -> torch.Tensor:
        """AMG (or the parameter-free upsampling of Table 3): map in [0, 1] shaped like FE output."""
        return self.feedback(refined)

    def summarize(self, refined: torch.Tensor) -> torch.Tensor:
        """The heads' input h (B, C): the pooled refiner map, plus where features are ("spatial")."""
        h = refined.mean((2, 3))
        return h if self.readout is None else h + self.readout(refined)

    def forward_head(self, refined: torch.Tensor) -> LoopOutput:
        """Pose predictor, weak-perspective camera, uncertainty and gate: the regressors only.

        The hand model is left out (joints, skinning and vertices None): `forward_joints` poses the
        joints, for many passes in one call, and `forward_mesh` makes the mesh of the passes that
        need it.
        """
        h = self.summarize(refined)
        pose, shape, rot6d, trans, log_scale = self.pose_head(h)
        alpha2d, alpha3d, f = self.var_head(h)
        res = self.cfg.input_res
        scale = self.cfg.scale_prior * (res / REFERENCE_RES) * torch.exp(log_scale.squeeze(-1))
        return LoopOutput(
            alpha2d=alpha2d, alpha3d=alpha3d, gate_logits=self.gate(f), gate_input=f,
            pose=pose.view(-1, 15, 3), shape=shape, rotation=rot6d_to_matrix(rot6d + self.identity_6d),
            scale=scale, trans=res * (0.5 + 0.5 * trans))

    def forward_joints(self, out: LoopOutput) -> dict[str, torch.Tensor]:
        """The hand model's joints (3D, and 2D by the weak-perspective camera) and skinning state
        of the passes' rows in `out`: {"joints2d", "joints3d", "skinning"}."""
        posed = self.hand.pose_joints(out.rotation, out.pose, out.shape)
        return {"joints2d": weak_perspective(posed.joints, out.scale, out.trans), "joints3d": posed.joints,
                "skinning": posed.skinning}

    def forward_mesh(self, out: LoopOutput) -> torch.Tensor:
        """(B, V, 3) vertices of a pass's hand, mm, the frame of its joints3d."""
        return self.hand.skin(out.skinning, out.shape)

    def forward(self, images: torch.Tensor, num_loops: int | None = None) -> list[LoopOutput]:
        """Run every loop for the whole batch (training, deep supervision over loops, Eq. 12).

        Args:
            images: (B, 3, R, R) float RGB in [0, 1].
            num_loops: refiner passes, default cfg.max_loops.
        Returns:
            One LoopOutput per loop, with its joints, without vertices (see forward_mesh).
        """
        return forward_loops(self, images, num_loops)

    @property
    def device(self) -> torch.device:
        """The device of the weights (and so of the inputs)."""
        return self.mean.device

    def state_dict_without_hand(self) -> dict[str, torch.Tensor]:
        """Network weights only: the hand model's data belongs to the hand model's own asset."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith("hand.")}


def _create_dirnet(preset: str, hand: HandModel | None = None, **overrides) -> DIRNet:
    if hand is None:
        from ..hand import create_hand_model
        hand = create_hand_model(overrides.get("hand_model", "open"))
    overrides.setdefault("num_shape", hand.num_shape)
    overrides.setdefault("hand_model", hand.name)
    return DIRNet(DIRNetConfig.from_preset(preset, **overrides), hand)


def dirnet_fpha(hand: HandModel | None = None, **overrides) -> DIRNet:
    """The paper's FPHA model: 16 base channels, 256-node FC layers (460K parameters)."""
    return _create_dirnet("fpha", hand, **overrides)


def dirnet_stb(hand: HandModel | None = None, **overrides) -> DIRNet:
    """The paper's STB model: 32 base channels, 512-node FC layers (1.68M parameters)."""
    return _create_dirnet("stb", hand, **overrides)


_MODELS = {"dirnet_fpha": dirnet_fpha, "dirnet_stb": dirnet_stb}


def create_model(name: str, hand: HandModel | None = None, **overrides) -> DIRNet:
    """Build a registered model by name, e.g. create_model("dirnet_fpha", input_res=160)."""
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}, known: {sorted(_MODELS)}")
    return _MODELS[name](hand, **overrides)
