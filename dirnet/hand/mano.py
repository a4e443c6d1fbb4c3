"""Optional official MANO right hand (Romero et al. 2017, https://mano.is.tue.mpg.de) through smplx.

MANO is licence-gated and never shipped: the user supplies MANO_RIGHT.pkl (a path, a folder
holding it, or the DIRNET_MANO_PATH variable). The file is a Python 2 pickle holding chumpy
objects, and chumpy does not import on Python 3.11 / numpy >= 1.24, so it is read by a restricted
unpickler: chumpy and scipy.sparse objects become plain numpy arrays, numpy arrays are rebuilt, and
every other class is refused (nothing in the file can run code).

Frame: MANO's own axes are rotated into the canonical frame of `dirnet.hand.base` by a fixed
rotation C (buffer `native_to_canonical`), computed once from the mean-shape, flat-hand rest joints
with `dirnet.hand.poses.canonical_rotation` (rows: x = pinky->index MCP, y = middle MCP->wrist,
z = x cross y). Outputs are millimetres with the wrist at the origin. `hand_pose` axis-angles are
in canonical axes too, like the open hand's: a pose r from other MANO code (MANO axes,
flat_hand_mean=True, no PCA) is C @ r here.
"""
from __future__ import annotations

import builtins
import contextlib
import codecs
import copyreg
import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dirnet.hand.base import HandModel, PosedJoints
from dirnet.hand.lbs import angles_to_axis_angle, batch_rigid_transform, batch_rodrigues
from dirnet.hand.poses import anatomical_axes, anatomical_limits, canonical_rotation, rest_flexion
from dirnet.hand.skeleton import MANO_PARENTS, MANO_TO_MEDIAPIPE, HandJoint

__all__ = ["ManoHandLayer", "load_mano_pickle", "MANO_PATH_ENV", "MANO_TIP_VERTICES"]

MANO_PATH_ENV = "DIRNET_MANO_PATH"
# smplx's fingertip vertices (thumb, index, middle, ring, pinky), appended after the 16 joints.
MANO_TIP_VERTICES = (744, 320, 443, 554, 671)
_M_TO_MM = 1000.0
_REQUIRED = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "f", "kintree_table",
             "hands_components", "hands_mean")
_NUM_BETAS = 10


class _StandIn:
    """Records what a pickle gives an object of a class we refuse to import (chumpy, scipy.sparse)."""

    source = ""
    state: Any = None

    def __new__(cls, *args: Any, **kwargs: Any) -> "_StandIn":
        return super().__new__(cls)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (__dict__, __slots__ state)
            state = {**(state[0] or {}), **(state[1] or {})}
        self.state = state

    def to_array(self) -> np.ndarray:
        raise NotImplementedError


class _ChumpyArray(_StandIn):
    """A chumpy object; only plain `Ch` values (which store their array as `x`) can be read."""

    def to_array(self) -> np.ndarray:
        value = self.state.get("x") if isinstance(self.state, dict) else None
        if value is None:
            raise ValueError(f"cannot read a {self.source} object: it stores no array value")
        return _to_array(value)


class _SparseMatrix(_StandIn):
    """A scipy.sparse matrix (csc, csr or coo), rebuilt densely from its pickled fields."""

    def to_array(self) -> np.ndarray:
        s = self.state if isinstance(self.state, dict) else {}
        shape = tuple(int(n) for n in s.get("_shape", s.get("shape", ())))
        fmt = s.get("format") or self.source.rsplit(".", 1)[-1].split("_")[0]
        if len(shape) != 2 or fmt not in ("csc", "csr", "coo"):
            raise ValueError(f"cannot read a {self.source} object (format {fmt!r}, shape {shape})")
        dense = np.zeros(shape)
        data = np.asarray(s["data"], dtype=np.float64)
        if fmt == "coo":
            np.add.at(dense, (np.asarray(s["row"]), np.asarray(s["col"])), data)
            return dense
        indptr, indices = np.asarray(s["indptr"]), np.asarray(s["indices"])
        major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
        rows, cols = (indices, major) if fmt == "csc" else (major, indices)
        np.add.at(dense, (rows, cols), data)
        return dense


def _to_array(value: Any) -> np.ndarray:
    return value.to_array() if isinstance(value, _StandIn) else np.asarray(value)


# Everything a MANO pickle needs to rebuild numpy arrays and plain Python containers.
_NDARRAY_RECONSTRUCT = np.ndarray(0).__reduce__()[0]
_NDARRAY_FROMBUFFER = np.ndarray(0).__reduce_ex__(5)[0]
_NUMPY_SCALAR = np.float64(0).__reduce__()[0]
_ALLOWED: dict[tuple[str, str], Any] = {
    **{(m, "_reconstruct"): _NDARRAY_RECONSTRUCT for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "scalar"): _NUMPY_SCALAR for m in ("numpy.core.multiarray", "numpy._core.multiarray")},
    **{(m, "_frombuffer"): _NDARRAY_FROMBUFFER for m in ("numpy.core.numeric", "numpy._core.numeric")},
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("_codecs", "encode"): codecs.encode,  # how Python 3 writes bytes at protocol 2
    **{(m, n): getattr(builtins, n)
       for m in ("__builtin__", "builtins") for n in ("object", "set", "frozenset", "list", "dict", "tuple")},
}
_SPARSE_CLASSES = ("csc_matrix", "csr_matrix", "coo_matrix")


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy data, stands in for chumpy/scipy.sparse, and refuses the rest."""

    _stand_ins: dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "chumpy" or module.startswith("chumpy."):
            return self._stand_in(_ChumpyArray, f"{module}.{name}")
        if module.startswith("scipy.sparse") and name in _SPARSE_CLASSES:
            return self._stand_in(_SparseMatrix, f"{module}.{name}")
        raise ValueError(f"refusing to load {module}.{name} from a MANO pickle: not a numpy, chumpy "
                         "or scipy.sparse class")

    @classmethod
    def _stand_in(cls, base: type, source: str) -> type:
        if source not in cls._stand_ins:
            cls._stand_ins[source] = type(source.rsplit(".", 1)[-1], (base,), {"source": source})
        return cls._stand_ins[source]


def _resolve(path: str | os.PathLike) -> Path:
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "MANO_RIGHT.pkl"
    if not path.is_file():
        raise FileNotFoundError(f"MANO model file not found: {path}")
    return path


def load_mano_pickle(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read and check MANO_RIGHT.pkl without chumpy.

    Args:
        path: MANO_RIGHT.pkl, or a folder holding it.

    Returns:
        The arrays smplx needs (keys of `_REQUIRED`), as float64/int64 numpy arrays in MANO's
        native frame and metres.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a class outside numpy/chumpy/scipy.sparse, a truncated or corrupt file, or a
            file that is not MANO's right hand (SMPL body, left hand, other data).
    """
    path = _resolve(path)
    with open(path, "rb") as f:
        try:
            raw = _RestrictedUnpickler(f, encoding="latin1").load()
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
        except (pickle.UnpicklingError, EOFError, AttributeError, IndexError, TypeError) as exc:
            raise ValueError(f"{path}: truncated or corrupt pickle ({type(exc).__name__}: {exc})") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: not a MANO model (a pickled {type(raw).__name__}, expected a dict)")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise ValueError(f"{path}: not a MANO model, missing {missing}")
    data = {}
    for key in _REQUIRED:
        try:
            data[key] = _to_array(raw[key])
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}: cannot read {key!r} ({type(exc).__name__}: {exc})") from exc
        except ValueError as exc:
            raise ValueError(f"{path}: {key!r}: {exc}") from exc
    _check_mano(data, path)
    return data


def _check_mano(data: dict[str, np.ndarray], path: Path) -> None:
    """Raise ValueError unless `data` is a MANO right hand (shapes, kinematic tree, chirality)."""
    v = data["v_template"]
    if v.ndim != 2 or v.shape[1] != 3 or v.shape[0] <= max(MANO_TIP_VERTICES):
        raise ValueError(f"{path}: v_template has shape {v.shape}, expected (778, 3)")
    nv, nj = v.shape[0], data["weights"].shape[-1]
    if nj != 16:
        raise ValueError(f"{path}: {nj} joints, MANO has 16 (is this an SMPL/SMPL-H body model?)")
    expected = {"weights": (nv, 16), "J_regressor": (16, nv), "kintree_table": (2, 16),
                "posedirs": (nv, 3, 135), "hands_mean": (45,)}
    for key, shape in expected.items():
        if data[key].shape != shape:
            raise ValueError(f"{path}: {key} has shape {data[key].shape}, expected {shape}")
    if data["shapedirs"].shape[:2] != (nv, 3) or data["shapedirs"].shape[2] < _NUM_BETAS:
        raise ValueError(f"{path}: shapedirs has shape {data['shapedirs'].shape}, expected ({nv}, 3, 10)")
    if data["f"].ndim != 2 or data["f"].shape[1] != 3 or data["f"].max() >= nv:
        raise ValueError(f"{path}: faces do not index the {nv} vertices")
    parents = [int(p) for p in data["kintree_table"][0][1:]]
    if parents != list(MANO_PARENTS[1:]):
        raise ValueError(f"{path}: kinematic tree {parents} is not MANO's")
    if mean_pose_curl(data) <= 0:
        raise ValueError(f"{path}: this is a LEFT hand model; DIR-Net needs MANO_RIGHT.pkl")


def _native_joints(v_template: np.ndarray, j_regressor: np.ndarray) -> np.ndarray:
    """(21, 3) MediaPipe-ordered joints of a MANO template (16 regressed + 5 tip vertices)."""
    joints = np.concatenate([j_regressor @ v_template, v_template[list(MANO_TIP_VERTICES)]])
    return joints[list(MANO_TO_MEDIAPIPE)]


def mean_pose_curl(data: dict[str, np.ndarray]) -> float:
    """How far MANO's mean pose curls the fingers towards the palm a right hand would have.

    The mean pose (`hands_mean`) is a relaxed, half-closed hand, so its fingers curl towards the
    real palm. For a right hand the palm faces (index MCP - wrist) x (pinky MCP - wrist); for a
    mirrored (left) hand, away from it. Positive = right hand.
    """
    joints = data["J_regressor"] @ data["v_template"]
    rot = batch_rodrigues(torch.as_tensor(data["hands_mean"], dtype=torch.float64).view(15, 3))
    rot = torch.cat([torch.eye(3, dtype=torch.float64)[None], rot]).unsqueeze(0)
    posed, _ = batch_rigid_transform(rot, torch.as_tensor(joints).unsqueeze(0), MANO_PARENTS)
    distal = [3, 6, 9, 12]  # index3, middle3, pinky3, ring3
    moved = (posed[0, distal].numpy() - joints[distal]).mean(axis=0)
    palm = np.cross(joints[1] - joints[0], joints[7] - joints[0])
    return float(moved @ palm / np.linalg.norm(palm))


class ManoHandLayer(HandModel):
    """Official MANO (smplx MANOLayer, 45-D axis-angle, flat hand mean) in the canonical frame.

    Buffers: faces (1538, 3) int64; native_to_canonical (3, 3) C; joint_axes (15, 3, 3),
    angle_limits (15, 3, 2), rest_flexion (15,) as for the open hand (see `dirnet.hand.poses`),
    derived from MANO's flat mean-shape rest pose; rest_joints (21, 3) mm canonical.
    """

    name = "mano"
    num_shape = _NUM_BETAS

    def __init__(self, path: str | os.PathLike) -> None:
        """Load MANO_RIGHT.pkl (see `load_mano_pickle` for the errors it raises)."""
        super().__init__()
        import smplx  # lazily: only MANO users need it

        data = load_mano_pickle(path)
        struct = smplx.utils.Struct(**data)
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a note about 10 betas
            self.layer = smplx.MANOLayer(model_path=str(path), data_struct=struct, is_rhand=True,
                                         use_pca=False, flat_hand_mean=True, num_betas=_NUM_BETAS,
                                         create_body_pose=False)
        native = _native_joints(data["v_template"], data["J_regressor"])
        rot = canonical_rotation(native)
        rest = (native - native[HandJoint.WRIST]) @ rot.T * _M_TO_MM
        axes = anatomical_axes(rest)
        flex = rest_flexion(rest, axes)
        # MANO's data must never end up in a checkpoint (licence): no buffer is persistent.
        for module in self.layer.modules():
            module._non_persistent_buffers_set.update(n for n, _ in module.named_buffers(recurse=False))
        self.register_buffer("faces", torch.as_tensor(data["f"].astype(np.int64)), persistent=False)
        for key, value in (("native_to_canonical", rot), ("rest_joints", rest), ("joint_axes", axes),
                           ("angle_limits", anatomical_limits(flex)), ("rest_flexion", flex)):
            self.register_buffer(key, torch.as_tensor(value, dtype=torch.float32), persistent=False)
        self.register_buffer("_tips", torch.as_tensor(MANO_TIP_VERTICES), persistent=False)
        self.register_buffer("_to_mediapipe", torch.as_tensor(MANO_TO_MEDIAPIPE), persistent=False)

    def pose_joints(self, global_orient: torch.Tensor, hand_pose: torch.Tensor,
                    shape: torch.Tensor) -> PosedJoints:
        """Pose the hand; see `HandModel.pose_joints`.

        Args:
            global_orient: (B, 3, 3) rotation about the wrist, canonical frame.
            hand_pose: (B, 15, 3) axis-angle, MANO order, canonical axes; zeros = flat hand.
            shape: (B, 10) MANO betas.

        Returns:
            PosedJoints: joints (B, 21, 3) MediaPipe order, mm; skinning the vertices (B, 778, 3),
            mm: MANO's pose correctives make its mesh depend on more than the bone transforms,
            and its fingertips are vertices, so the mesh is made here (`skin` only returns it).
        """
        B = hand_pose.shape[0]
        c = self.native_to_canonical
        rot = batch_rodrigues(hand_pose.reshape(-1, 3)).view(B, 15, 3, 3)
        rot_native = c.T @ rot @ c
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device).expand(B, 1, 3, 3)
        out = self.layer(betas=shape, global_orient=eye, hand_pose=rot_native)
        verts = out.vertices
        joints = torch.cat([out.joints, verts[:, self._tips]], dim=1)[:, self._to_mediapipe]
        wrist = joints[:, :1]
        to_camera = (global_orient @ c) * _M_TO_MM
        return PosedJoints(joints=(joints - wrist) @ to_camera.transpose(1, 2),
                           skinning=(verts - wrist) @ to_camera.transpose(1, 2))

    def skin(self, skinning: torch.Tensor, shape: torch.Tensor) -> torch.Tensor:
        """The vertices `pose_joints` already made (see there)."""
        return skinning

    def angles_to_pose(self, angles: torch.Tensor) -> torch.Tensor:
        """(B, 15, 3) [flexion, abduction, twist] radians about MANO's flat rest -> (B, 15, 3) hand_pose."""
        return angles_to_axis_angle(angles, self.joint_axes)
