"""The staged interface of DIR-Net: what one refiner pass returns and what drives the passes.

A staged model runs FE once, then the refiner (RF) per loop and the heads on each refined map,
with the attention map (AMG) between loops. `DIRNet` implements it for training and eager
inference, `dirnet.runtime.FastDIRNet` for the folded fast path; `dirnet.exits.run_with_exits`,
evaluation and gate training drive either through this interface only.

Per pass the heads only regress (pose parameters, uncertainty, gate): nothing in the exit decision
reads the joints. The hand model poses the joints afterwards, for every pass of a batch in one call
(`with_joints`; its cost is per node, not per row), and makes the mesh once per sample, from the
loop the sample exits at (`with_mesh`): on the CPU, posing the joints in every loop cost a quarter
of a loop or more and skinning the mesh about 15% (docs/PERFORMANCE.md, "The mesh only at the exit
loop" and "The joints after the exit loop").
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Protocol, Sequence

import torch

if TYPE_CHECKING:
    from ..config import DIRNetConfig
    from ..hand.base import HandModel

__all__ = ["LoopOutput", "StagedModel", "forward_loops", "with_joints", "with_mesh"]


@dataclass
class LoopOutput:
    """Everything one refiner pass predicts for a batch.

    alpha2d: (B, 21, 2) log sigma^2 in (224-px-crop pixels)^2. alpha3d: (B, 21, 3) log sigma^2 in
    mm^2. gate_logits: (B, 2) for (EXIT, CONTINUE). gate_input: (B, fc_dim) f = Psi_var1(h), the
    gate's input (Sec. 4.2), which gate training caches. pose: (B, 15, 3) axis-angle; shape:
    (B, num_shape); rotation: (B, 3, 3); scale: (B,) px/mm; trans: (B, 2) px (the wrist's 2D
    position). The heads give these; the hand model the rest, None until made:
    joints2d: (B, 21, 2) pixels of the network input. joints3d: (B, 21, 3) mm, camera axes,
    wrist-relative. skinning: (B, ...) the hand model's skinning state (`HandModel.pose_joints`);
    these three by `with_joints`. vertices: (B, V, 3) mm, the frame of joints3d, by `with_mesh`.
    """

    alpha2d: torch.Tensor
    alpha3d: torch.Tensor
    gate_logits: torch.Tensor
    gate_input: torch.Tensor
    pose: torch.Tensor
    shape: torch.Tensor
    rotation: torch.Tensor
    scale: torch.Tensor
    trans: torch.Tensor
    joints2d: torch.Tensor | None = None
    joints3d: torch.Tensor | None = None
    skinning: torch.Tensor | None = None
    vertices: torch.Tensor | None = None

    def apply(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> "LoopOutput":
        """The same fields with `fn` applied to each tensor (absent ones stay None)."""
        return LoopOutput(**{k: None if v is None else fn(v) for k, v in vars(self).items()})

    def index(self, idx: torch.Tensor) -> "LoopOutput":
        """The same fields for a subset of the batch."""
        return self.apply(lambda v: v[idx])

    @staticmethod
    def cat(outputs: Sequence["LoopOutput"]) -> "LoopOutput":
        """The rows of `outputs`, in order, as one LoopOutput (the fields present in the first)."""
        return LoopOutput(**{k: torch.cat([getattr(o, k) for o in outputs])
                             for k, v in vars(outputs[0]).items() if v is not None})


class StagedModel(Protocol):
    """FE, RF per loop, AMG and heads as separate calls (DIRNet, FastDIRNet).

    Attributes:
        cfg: the architecture (input_res, max_loops, ...).
        hand: the hand model behind the heads (faces, names).
        device: where the model's inputs must live.
    """

    cfg: DIRNetConfig
    hand: HandModel

    @property
    def device(self) -> torch.device: ...

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """FE: (B, 3, R, R) float RGB in [0, 1] -> features."""
        ...

    def forward_refine(self, features: torch.Tensor, loop: int,
                       attention: torch.Tensor | None = None) -> torch.Tensor:
        """RF pass `loop` on the features, attention-weighted after loop 0."""
        ...

    def attention(self, refined: torch.Tensor) -> torch.Tensor:
        """The attention map in [0, 1] for the next pass, shaped like the features."""
        ...

    def forward_head(self, refined: torch.Tensor) -> LoopOutput:
        """Pose parameters, uncertainty and gate of one pass (joints, skinning, vertices None)."""
        ...

    def forward_joints(self, out: LoopOutput) -> dict[str, torch.Tensor]:
        """joints2d, joints3d and skinning (LoopOutput's fields) of the hands of `out`'s rows."""
        ...

    def forward_mesh(self, out: LoopOutput) -> torch.Tensor:
        """(B, V, 3) vertices of a pass's hand, from its skinning state and shape."""
        ...


def forward_loops(model: StagedModel, images: torch.Tensor, num_loops: int | None = None
                  ) -> list[LoopOutput]:
    """Every refiner pass for the whole batch (training's deep supervision, evaluation's replay).

    Args:
        model: a staged model.
        images: (B, 3, R, R) float RGB in [0, 1].
        num_loops: refiner passes, default cfg.max_loops.
    Returns:
        One LoopOutput per pass, with its joints (`with_joints`), without vertices (`with_mesh`).
    Raises:
        ValueError: num_loops outside 1..cfg.max_loops.
    """
    num_loops = model.cfg.max_loops if num_loops is None else num_loops
    if not 1 <= num_loops <= model.cfg.max_loops:
        raise ValueError(f"num_loops must be in 1..{model.cfg.max_loops}, got {num_loops}")
    features = model.forward_features(images)
    outputs, attention = [], None
    for loop in range(num_loops):
        refined = model.forward_refine(features, loop, attention)
        outputs.append(model.forward_head(refined))
        if loop + 1 < num_loops:
            attention = model.attention(refined)
    return with_joints(model, outputs)


def with_joints(model: StagedModel, outputs: Sequence[LoopOutput]) -> list[LoopOutput]:
    """`outputs` with their joints and skinning state, posed in one `model.forward_joints` call for
    the rows of all of them (the hand model's cost is per graph node, hardly per row)."""
    if len(outputs) == 1:
        return [replace(outputs[0], **model.forward_joints(outputs[0]))]
    sizes = [o.pose.shape[0] for o in outputs]
    posed = {k: v.split(sizes) for k, v in model.forward_joints(LoopOutput.cat(outputs)).items()}
    return [replace(o, **{k: parts[i] for k, parts in posed.items()}) for i, o in enumerate(outputs)]


def with_mesh(model: StagedModel, out: LoopOutput) -> LoopOutput:
    """`out` with its vertices (made by `model.forward_mesh`), for the passes whose mesh is used."""
    return replace(out, vertices=model.forward_mesh(out))
