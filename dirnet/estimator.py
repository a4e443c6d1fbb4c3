"""Estimator: the one bridge from crops (numpy) to HandPose results; no torch leaks out."""
from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, replace
from importlib.resources import files
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from .config import DIRNetConfig, check_fields
from .crop import Box, crop_matrix, invert_affine, reframe_box, transform_points, warp
from .exits import ExitPolicy, run_with_exits
from .flops import count_stage_flops
from .hand import create_hand_model
from .models.dirnet import REFERENCE_RES, DIRNet
from .pose import HandPose, LoopTrace
from .weights import checkpoint_paths, load_checkpoint

__all__ = ["Estimator", "EstimatorDefaults", "DEFAULT_WEIGHTS"]

log = logging.getLogger(__name__)

# The shipped model is package data, so a checkout and an installed wheel find it alike.
DEFAULT_WEIGHTS = Path(files("dirnet") / "pretrained" / "dirnet_default")


@dataclass(frozen=True)
class EstimatorDefaults:
    """Exit settings used when estimate() is not told otherwise (stored with the weights)."""

    exit: str = "gate"
    tau_var: float = 20.0
    tau_gate: float = 1.0
    max_loops: int = 4


class Estimator:
    """DIR-Net on hand crops.

    Usage:
        with Estimator.from_pretrained() as est:
            poses = est.estimate([crop_rgb], ["right"])

    Attributes:
        model: the DIRNet (eval mode).
        input_res: network input side in px.
        defaults: EstimatorDefaults from the weights.
        is_trained: False when running an untrained model because no weights were found.
        faces: (F, 3) int32 triangles of the hand mesh (right-hand winding).
        metadata: the checkpoint's JSON metadata ({} when untrained).
        weights_path: the .safetensors file loaded (None when untrained).
    """

    def __init__(self, model: DIRNet, defaults: EstimatorDefaults = EstimatorDefaults(),
                 is_trained: bool = True, metadata: dict | None = None, device: str = "cpu"):
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.input_res = model.cfg.input_res
        self.defaults = replace(defaults, max_loops=min(defaults.max_loops, model.cfg.max_loops))
        self.is_trained = is_trained
        self.metadata = metadata or {}
        self.weights_path: Path | None = None
        self.stage_flops = count_stage_flops(model)
        faces = model.hand.faces.cpu().numpy().astype(np.int32)
        self.faces = faces
        self._faces_left = np.ascontiguousarray(faces[:, ::-1])

    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str = "cpu",
                        hand_model: str | None = None, mano_path: str | None = None,
                        fast: bool = True, cache_dir: str | os.PathLike | None = None,
                        precision: str = "auto", threads: int | None = None) -> "Estimator":
        """Load weights (default: the shipped `dirnet/pretrained/dirnet_default`).

        When `path` is None and no shipped weights exist, returns an UNTRAINED model and warns
        loudly: its outputs are meaningless until weights are trained.

        Args:
            fast: on the CPU, run the folded-BatchNorm ONNX Runtime engine (dirnet.runtime), which
                gives the eager model's results within float tolerance about 2x faster.
            cache_dir: keep the fast path's exported graphs here and reuse them at the next load
                of the same weights (dirnet.runtime.cache); None exports them every time.
            precision: "fp32", "int8" (the stages the weights' `<stem>.int8.json` plan names run
                in int8; see dirnet.runtime.quantize) or "auto": int8 when such a plan is shipped
                for these weights, else fp32. int8 needs the fast path.
            threads: the fast path's intra-op threads (default: `dirnet.runtime.auto_threads()`).

        Raises:
            FileNotFoundError: an explicit path that does not exist.
            ValueError: unreadable, truncated or mismatching weights, the wrong hand model, an
                unknown precision, or "int8" without a plan for these weights or the fast path.
        """
        hand = create_hand_model(hand_model, mano_path) if hand_model else None
        if path is None and not checkpoint_paths(DEFAULT_WEIGHTS)[0].is_file():
            message = (f"no trained DIR-Net weights at {DEFAULT_WEIGHTS}.safetensors: "
                       "running an UNTRAINED model, its poses are meaningless")
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            log.warning(message)
            hand = hand or create_hand_model("open")
            cfg = DIRNetConfig(num_shape=hand.num_shape, hand_model=hand.name)
            estimator = cls(DIRNet(cfg, hand), is_trained=False, device=device)
        else:
            model, meta = load_checkpoint(path or DEFAULT_WEIGHTS, hand=hand, map_location=device)
            try:
                check_fields(EstimatorDefaults, meta.get("defaults", {}), "defaults")
            except ValueError as exc:
                raise ValueError(f"{checkpoint_paths(path or DEFAULT_WEIGHTS)[1]}: {exc}") from None
            defaults = EstimatorDefaults(**meta.get("defaults", {}))
            estimator = cls(model, defaults, metadata=meta, device=device)
            estimator.weights_path = checkpoint_paths(path or DEFAULT_WEIGHTS)[0].resolve()
        if precision == "int8" and not (fast and estimator.device.type == "cpu"):
            raise ValueError("int8 runs on the fast path: fast=True on the CPU")
        if fast and estimator.device.type == "cpu":
            from .runtime import accelerate, auto_threads, load_plan
            plan = load_plan(precision, estimator.weights_path, estimator.model)
            try:
                accelerate(estimator, threads=threads or auto_threads()[0], cache_dir=cache_dir, plan=plan)
            except Exception as exc:  # noqa: BLE001 - any export/runtime failure: keep the eager model
                log.warning("fast inference engine unavailable (%s); using eager PyTorch", exc)
        return estimator

    @property
    def precision(self) -> str:
        """"int8" when the fast path runs some stages in int8, else "fp32"."""
        return getattr(self.model, "precision", "fp32")

    def __enter__(self) -> "Estimator":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def policy(self, exit: str | None = None, tau_var: float | None = None,
               tau_gate: float | None = None, max_loops: int | None = None,
               sample: bool = False) -> ExitPolicy:
        """The ExitPolicy for these arguments, defaults filled in."""
        d = self.defaults
        return ExitPolicy(mode=exit or d.exit, tau_var=d.tau_var if tau_var is None else tau_var,
                          tau_gate=d.tau_gate if tau_gate is None else tau_gate,
                          max_loops=min(max_loops or d.max_loops, self.model.cfg.max_loops),
                          sample=sample)

    def preprocess(self, crops: Sequence[np.ndarray], handedness: Sequence[str],
                   boxes: Sequence[Box] | None = None):
        """Square, resize and mirror crops into a (B, 3, R, R) float tensor; returns it and the affines.

        boxes: the region of each crop to use (default: the whole crop, padded to a square about
        its centre so a non-square crop is not distorted).
        """
        res = self.input_res
        batch = np.empty((len(crops), res, res, 3), dtype=np.uint8)
        matrices = []
        for i, (crop, hand) in enumerate(zip(crops, handedness)):
            h, w = crop.shape[:2]
            box = boxes[i] if boxes is not None else Box((w - 1) / 2.0, (h - 1) / 2.0, float(max(h, w)))
            m = crop_matrix(box, res, mirror=hand == "left")
            if boxes is None and crop.shape[:2] == (res, res):  # network-sized: a copy or flip is exact
                batch[i] = crop[:, ::-1] if hand == "left" else crop
            else:
                batch[i] = warp(crop, m, res)
            matrices.append(m)
        tensor = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float().div_(255.0)
        return tensor, matrices

    @torch.no_grad()
    def estimate(self, crops: Sequence[np.ndarray], handedness: Sequence[str] | str = "right",
                 exit: str | None = None, tau_var: float | None = None, tau_gate: float | None = None,
                 max_loops: int | None = None, sample: bool = False, reframe: bool = False
                 ) -> list[HandPose]:
        """Estimate one hand per crop.

        Args:
            crops: RGB uint8 images (H, W, 3), each roughly centred on one hand.
            handedness: "left"/"right" per crop, or one value for all.
            exit: "none", "variance" or "gate" (default from the weights).
            tau_var: variance threshold (px^2 of a 224 px crop and mm^2).
            tau_gate: gate softmax temperature; higher exits earlier.
            max_loops: most refiner passes.
            sample: sample the gate's actions instead of its deterministic median exit.
            reframe: for crops that frame the hand loosely (see dirnet.crop.reframe_box), run again
                on the box the network was trained to see around the first estimate; such poses
                cost both passes' GFLOPs and have `reframed` set.
        Returns:
            One HandPose per crop, in order; [] for no crops.
        Raises:
            ValueError: a crop that is not (H, W, 3) uint8, or a bad handedness/exit setting.
        """
        if isinstance(handedness, str):
            handedness = [handedness] * len(crops)
        if len(handedness) != len(crops):
            raise ValueError(f"{len(crops)} crops but {len(handedness)} handedness values")
        for i, (crop, hand) in enumerate(zip(crops, handedness)):
            if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8 or crop.ndim != 3 \
                    or crop.shape[2] != 3 or min(crop.shape[:2]) < 8:
                raise ValueError(f"crop {i} must be an RGB uint8 array (H, W, 3) of at least 8 px, got "
                                 f"{getattr(crop, 'dtype', type(crop))} {getattr(crop, 'shape', '')}")
            if hand not in ("left", "right"):
                raise ValueError(f"handedness must be 'left' or 'right', got {hand!r}")
        policy = self.policy(exit, tau_var, tau_gate, max_loops, sample)
        if not crops:
            return []
        poses = self._run(crops, handedness, policy)
        if reframe:
            boxes = {i: reframe_box(p.joints2d, *crops[i].shape[:2]) for i, p in enumerate(poses)}
            redo = [i for i, box in boxes.items() if box is not None]
            if redo:
                again = self._run([crops[i] for i in redo], [handedness[i] for i in redo], policy,
                                  [boxes[i] for i in redo])
                for i, pose in zip(redo, again):
                    poses[i] = replace(pose, gflops=poses[i].gflops + pose.gflops, reframed=True)
        return poses

    def _run(self, crops: Sequence[np.ndarray], handedness: Sequence[str], policy: ExitPolicy,
             boxes: Sequence[Box] | None = None) -> list[HandPose]:
        images, matrices = self.preprocess(crops, handedness, boxes)
        result = run_with_exits(self.model, images, policy)
        return [self._pose(result, i, m, hand, policy)
                for i, (m, hand) in enumerate(zip(matrices, handedness))]

    def _pose(self, result, i: int, matrix: np.ndarray, hand: str, policy: ExitPolicy) -> HandPose:
        loops = int(result.loops[i])
        to_crop = invert_affine(matrix)
        # Variance in px^2 of a 224 px crop -> this crop's px^2 (the affine is a uniform scale).
        input_px_per_crop_px = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
        var2d_scale = (self.input_res / REFERENCE_RES / input_px_per_crop_px) ** 2
        left = hand == "left"

        def j3d(x: torch.Tensor) -> np.ndarray:
            out = x.cpu().numpy().astype(np.float32)
            if left:
                out[..., 0] *= -1
            return out

        trace = tuple(
            LoopTrace(
                joints2d=transform_points(result.joints2d[l, i].cpu().numpy(), to_crop).astype(np.float32),
                joints3d=j3d(result.joints3d[l, i]),
                var2d=(result.alpha2d[l, i].exp().cpu().numpy() * var2d_scale).astype(np.float32),
                var3d=result.alpha3d[l, i].exp().cpu().numpy().astype(np.float32),
                exit_prob=float(result.exit_prob[l, i]))
            for l in range(loops))
        final = trace[-1]
        return HandPose(
            handedness=hand, joints2d=final.joints2d, joints3d=final.joints3d,
            vertices=j3d(result.final.vertices[i]), faces=self._faces_left if left else self.faces,
            var2d=final.var2d, var3d=final.var3d, loops=loops,
            gflops=self.stage_flops.gflops(loops, gate=policy.mode == "gate"), trace=trace)
