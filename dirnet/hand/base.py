"""The interface every hand model implements: pose and shape in, 21 joints + mesh out.

Posing is split in two steps, joints then mesh, so that a caller needing only the joints (every
refiner loop of DIR-Net; the mesh is wanted once, at the loop a sample exits at) can skip the
skinning: `pose_joints` returns the joints and the hand's skinning state, `skin` turns that state
into vertices, and `forward` does both.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["HandMeshOutput", "HandModel", "NUM_POSE_JOINTS", "PosedJoints"]

NUM_POSE_JOINTS = 15  # articulated joints below the wrist, MANO order


@dataclass
class HandMeshOutput:
    """Posed right hand.

    joints: (B, 21, 3) float32, millimetres, MediaPipe order, wrist at the origin, after global_orient.
    vertices: (B, V, 3) float32, millimetres, same frame as joints.
    """

    joints: torch.Tensor
    vertices: torch.Tensor


@dataclass
class PosedJoints:
    """The joints of a posed right hand, and what its mesh is made from.

    joints: (B, 21, 3) float32, as HandMeshOutput.joints.
    skinning: (B, ...) float32, the model's own state from which `HandModel.skin` makes the
        vertices (the open hand's: its bones' rigid transforms).
    """

    joints: torch.Tensor
    skinning: torch.Tensor


class HandModel(nn.Module):
    """A right hand: (global rotation, 15x3 axis-angle, shape) -> 21 joints + vertices.

    Canonical frame (global_orient = identity): camera axes (x right, y down, z away from the
    camera), wrist at the origin, fingers pointing up (-y), palm facing the camera (-z), thumb to
    +x. Implementations keep all model data in buffers, so `.to(device)` moves it.

    Attributes:
        name: "open" or "mano"; stored in weights so a checkpoint refuses the wrong model.
        num_shape: length of the shape vector.
        faces: (F, 3) int64 buffer of triangle vertex indices.
    """

    name: str
    num_shape: int
    faces: torch.Tensor

    def forward(self, global_orient: torch.Tensor, hand_pose: torch.Tensor,
                shape: torch.Tensor) -> HandMeshOutput:
        """Pose the hand: joints and mesh (`pose_joints`, then `skin`).

        Args:
            global_orient: (B, 3, 3) rotation matrices applied about the wrist.
            hand_pose: (B, 15, 3) axis-angle per articulated joint, MANO joint order, each relative to
                its parent and expressed in the rest pose's axes (MANO's convention). Zeros give the
                rest pose.
            shape: (B, num_shape) shape parameters; zeros give the mean hand.
        """
        posed = self.pose_joints(global_orient, hand_pose, shape)
        return HandMeshOutput(joints=posed.joints, vertices=self.skin(posed.skinning, shape))

    def pose_joints(self, global_orient: torch.Tensor, hand_pose: torch.Tensor,
                    shape: torch.Tensor) -> PosedJoints:
        """The joints of `forward` and the skinning state of its mesh, without the mesh where the
        model can skip it. Arguments as `forward`."""
        raise NotImplementedError

    def skin(self, skinning: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) vertices of `forward`, from `pose_joints`' skinning state and the same shape."""
        raise NotImplementedError
