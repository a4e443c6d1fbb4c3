"""The default, openly licensed right hand: MakeHuman's CC0 hand with MANO's kinematic tree.

`dirnet/assets/open_hand.npz` is built by `tools/build_open_hand.py` (provenance and licence are
stored in the file and in `dirnet/assets/open_hand_LICENSE.md`): 1686 vertices, 3368 triangles, 16
bones in MANO order, MakeHuman's slightly curled rest pose, millimetres, canonical frame of
`dirnet.hand.base`.

Shape (num_shape = 4, zeros = the MakeHuman mean hand, all sizes about the wrist):
    0 log_scale:        the whole hand is scaled by exp(shape[0]) (0.1 -> 10.5% larger).
    1 finger_length:    every phalanx of every finger and the thumb is (1 + shape[1]) times as long.
    2 palm_width:       the palm is (1 + shape[2]) times as wide; the fingers move sideways with
                        their knuckles without widening.
    3 finger_thickness: finger girth about the bone axes is (1 + shape[3]) times as large; the
                        joints do not move.
Coefficients 1-3 are linear blend shapes, so they are exact for the joints and first order for the
flesh; keep them within about +-0.3.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import torch

from dirnet.hand.base import HandModel, PosedJoints
from dirnet.hand.lbs import (angles_to_axis_angle, batch_rigid_transform, batch_rodrigues, blend_skinning,
                             bone_transforms)
from dirnet.hand.skeleton import MANO_TO_MEDIAPIPE

__all__ = ["OpenHandLayer", "SHAPE_NAMES", "DEFAULT_ASSET"]

SHAPE_NAMES: tuple[str, ...] = ("log_scale", "finger_length", "palm_width", "finger_thickness")
DEFAULT_ASSET = Path(files("dirnet") / "assets" / "open_hand.npz")  # package data

_MP_OF_MANO = [MANO_TO_MEDIAPIPE.index(m) for m in range(21)]  # MediaPipe index of MANO joint m
_TIP_BONES = [15, 3, 6, 12, 9]  # distal bone (MANO) carrying each tip: thumb, index, middle, ring, pinky
_REQUIRED = ("v_template", "faces", "weights", "joints", "parents", "joint_axes", "angle_limits",
             "rest_flexion", "vertex_shape_dirs", "joint_shape_dirs")


def _shape_blend(rest: torch.Tensor, dirs: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
    """(B, N, 3) points `rest` (N, 3) moved by the linear blend shapes `dirs` (N, 3, 3) of shape[:, 1:]."""
    # N, not the batch, sizes the view: an exported graph then has no shape arithmetic for it.
    return rest + (shape[:, 1:] @ dirs.flatten(0, 1).T).view(-1, rest.shape[0], 3)


def _scale(shape: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1) overall size factor exp(shape[0]) (see the module docstring)."""
    return torch.exp(shape[:, :1]).unsqueeze(-1)


class OpenHandLayer(HandModel):
    """Posable MakeHuman right hand (see the module docstring for shape and frame).

    Buffers: v_template (V, 3) mm; faces (F, 3) int64; weights (V, 16); rest_joints (21, 3) mm,
    MediaPipe order; vertex_shape_dirs (V, 3, 3) and joint_shape_dirs (21, 3, 3) mm per unit of
    shape[1:]; joint_axes (15, 3, 3) unit [flexion, abduction, twist] axes per articulated joint
    (MANO order) in rest-pose coordinates; angle_limits (15, 3, 2) radians about the rest pose;
    rest_flexion (15,) radians of curl of the rest pose (see `dirnet.hand.poses`).
    """

    name = "open"
    num_shape = len(SHAPE_NAMES)

    def __init__(self, path: str | Path = DEFAULT_ASSET) -> None:
        """Load the hand.

        Args:
            path: an open_hand.npz built by tools/build_open_hand.py.

        Raises:
            FileNotFoundError: `path` does not exist.
            ValueError: the file lacks an array the model needs.
        """
        super().__init__()
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"open hand asset not found: {path} (run tools/build_open_hand.py)")
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in _REQUIRED if k not in data]
            if missing:
                raise ValueError(f"{path} is not an open hand asset: missing {missing}")
            arrays = {k: data[k] for k in _REQUIRED}
            self.licence = str(data["licence"]) if "licence" in data else ""
        self.parents: tuple[int, ...] = tuple(int(p) for p in arrays.pop("parents"))
        faces = arrays.pop("faces")
        # Model data comes from the asset, never from checkpoints: no buffer is persistent.
        self.register_buffer("faces", torch.as_tensor(faces, dtype=torch.int64), persistent=False)
        for key, value in arrays.items():
            buffer_name = "rest_joints" if key == "joints" else key
            self.register_buffer(buffer_name, torch.as_tensor(value, dtype=torch.float32), persistent=False)
        # The 16 LBS joints (MANO order) and the 5 tips, picked from the MediaPipe-ordered joints.
        self.register_buffer("_lbs_index", torch.as_tensor(_MP_OF_MANO[:16]), persistent=False)
        self.register_buffer("_tip_index", torch.as_tensor(_MP_OF_MANO[16:]), persistent=False)
        self.register_buffer("_to_mediapipe", torch.as_tensor(MANO_TO_MEDIAPIPE), persistent=False)

    def pose_joints(self, global_orient: torch.Tensor, hand_pose: torch.Tensor,
                    shape: torch.Tensor) -> PosedJoints:
        """Pose the joints; see `HandModel.pose_joints`.

        Args:
            global_orient: (B, 3, 3) rotation about the wrist.
            hand_pose: (B, 15, 3) axis-angle, MANO order, rest-pose axes; zeros = rest pose.
            shape: (B, 4) coefficients, see the module docstring.

        Returns:
            PosedJoints: joints (B, 21, 3) MediaPipe order, mm; skinning (B, 16, 12) the bones'
            rigid transforms (`dirnet.hand.lbs.bone_transforms`) before the overall scale.
        """
        joints21 = _shape_blend(self.rest_joints, self.joint_shape_dirs, shape)
        rot = batch_rodrigues(hand_pose.reshape(-1, 3)).view(-1, 15, 3, 3)
        rot_mats = torch.cat([global_orient.unsqueeze(1), rot], dim=1)
        posed, transforms = batch_rigid_transform(rot_mats, joints21[:, self._lbs_index], self.parents)
        # Fingertips follow their distal bone rigidly.
        tip_rest = joints21[:, self._tip_index]
        tip_tf = transforms[:, _TIP_BONES]
        tips = (tip_tf[..., :3, :3] @ tip_rest.unsqueeze(-1)).squeeze(-1) + tip_tf[..., :3, 3]
        joints = torch.cat([posed, tips], dim=1)[:, self._to_mediapipe]
        return PosedJoints(joints=joints * _scale(shape), skinning=bone_transforms(transforms))

    def skin(self, skinning: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """(B, V, 3) vertices, mm: the shaped template skinned by `pose_joints`' bone transforms."""
        v_shaped = _shape_blend(self.v_template, self.vertex_shape_dirs, shape)
        return blend_skinning(skinning, v_shaped, self.weights) * _scale(shape)

    def angles_to_pose(self, angles: torch.Tensor) -> torch.Tensor:
        """Anatomical angles to hand_pose (see `dirnet.hand.poses`).

        Args:
            angles: (B, 15, 3) [flexion, abduction, twist] radians per joint (MANO order), rest = 0.

        Returns:
            (B, 15, 3) axis-angle hand_pose for `forward`; differentiable.
        """
        return angles_to_axis_angle(angles, self.joint_axes)
