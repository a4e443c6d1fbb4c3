"""Estimator: the one bridge from images (numpy: hand crops, or a frame and its hand boxes) to
HandPose results; no torch leaks out."""
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
from .exit_policy import ExitPolicy
from .exits import run_with_exits
from .flops import count_stage_flops
from .hand import create_hand_model
from .models.dirnet import REFERENCE_RES, DIRNet
from .models.staged import StagedModel
from .pose import HandPose, LoopTrace
from .runtime.engine import BACKENDS as FAST_BACKENDS
from .runtime.engine import FastDIRNet, auto_threads
from .runtime.quantize import PRECISIONS, Int8Plan, load_plan
from .weights import checkpoint_paths, load_checkpoint

__all__ = ["Estimator", "EstimatorDefaults", "DEFAULT_WEIGHTS", "BACKENDS"]

log = logging.getLogger(__name__)

# The shipped model is package data, so a checkout and an installed wheel find it alike.
DEFAULT_WEIGHTS = Path(files("dirnet") / "pretrained" / "dirnet_default")
# "eager": the DIRNet itself; the others: dirnet.runtime.FastDIRNet (folded BatchNorms) on that backend.
BACKENDS = ("eager", *FAST_BACKENDS)


@dataclass(frozen=True)
class EstimatorDefaults:
    """Exit settings used when estimate() is not told otherwise (stored with the weights)."""

    exit_mode: str = "gate"
    tau_var: float = 20.0
    tau_gate: float = 1.0
    max_loops: int = 4

    @classmethod
    def from_dict(cls, values: dict) -> "EstimatorDefaults":
        """From a checkpoint's "defaults" JSON object; older files' key "exit" reads as exit_mode.

        Raises:
            ValueError: an unknown field or a value of the wrong type.
        """
        values = dict(values)
        if "exit" in values and "exit_mode" not in values:
            values["exit_mode"] = values.pop("exit")
        check_fields(cls, values, "defaults")
        return cls(**values)


class Estimator:
    """DIR-Net on hand crops, or on the hand boxes of a frame.

    Usage:
        with Estimator.from_pretrained() as est:
            poses = est.estimate([crop_rgb], ["right"])                    # crop px
            poses = est.estimate(frame_rgb, ["right"], boxes=[hand_box])   # frame px

    Args:
        model: the DIRNet to run.
        defaults: exit settings used when estimate() is not told otherwise.
        is_trained: False for a model without trained weights (its poses are meaningless).
        metadata: the checkpoint's JSON metadata.
        device: torch device of the model.
        backend: one of BACKENDS: "eager" runs `model`; "onnxruntime" and "torch" run it with its
            BatchNorms folded (dirnet.runtime.FastDIRNet), which gives the eager results within
            float tolerance, ONNX Runtime about 2x faster on a CPU. A fast path that cannot be
            built is logged and the eager model runs instead.
        threads: intra-op threads of the fast path's ONNX Runtime sessions (default:
            dirnet.runtime.auto_threads(), chosen for this machine).
        cache_dir: keep the fast path's exported graphs here and reuse them at the next load of
            the same weights (dirnet.runtime.cache); None exports them every time.
        plan: run the stages of this Int8Plan in int8 (dirnet.runtime.quantize; "onnxruntime"
            backend only).

    Attributes:
        model: the DIRNet (eval mode).
        runner: what estimate() runs: `model`, or its FastDIRNet.
        backend: the backend `runner` uses ("eager" after a fast path failed to build).
        precision: "int8" when `runner` runs some stages in int8, else "fp32".
        input_res: network input side in px.
        defaults: EstimatorDefaults from the weights.
        is_trained: False when running an untrained model because no weights were found.
        faces: (F, 3) int32 triangles of the hand mesh (right-hand winding).
        metadata: the checkpoint's JSON metadata ({} when untrained).
        weights_path: the .safetensors file loaded (None when untrained).
    """

    def __init__(self, model: DIRNet, defaults: EstimatorDefaults = EstimatorDefaults(),
                 is_trained: bool = True, metadata: dict | None = None, device: str = "cpu",
                 backend: str = "eager", threads: int | None = None,
                 cache_dir: str | os.PathLike | None = None, plan: Int8Plan | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}, known: {list(BACKENDS)}")
        if plan is not None and backend != "onnxruntime":
            raise ValueError(f"int8 runs on the onnxruntime backend, not {backend!r}")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.runner: StagedModel = self.model
        self.backend = "eager"
        self.precision = "fp32"
        if backend != "eager":
            try:
                self.runner = FastDIRNet(self.model, backend=backend, threads=threads or auto_threads()[0],
                                         cache_dir=cache_dir, plan=plan)
                self.backend, self.precision = backend, self.runner.precision
            except Exception as exc:  # noqa: BLE001 - any export/runtime failure: keep the eager model
                log.warning("fast inference engine unavailable (%s); using eager PyTorch", exc)
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
                        backend: str = "auto", precision: str = "auto", threads: int | None = None,
                        cache_dir: str | os.PathLike | None = None) -> "Estimator":
        """Load weights (default: the shipped `dirnet/pretrained/dirnet_default`).

        When `path` is None and no shipped weights exist, returns an UNTRAINED model and warns
        loudly: its outputs are meaningless until weights are trained.

        Args:
            path: checkpoint stem, .safetensors or .json.
            device: torch device.
            hand_model, mano_path: a hand model other than the checkpoint's (see create_hand_model).
            backend: "auto" (ONNX Runtime on the CPU, eager on other devices) or one of BACKENDS.
            precision: "fp32", "int8" (the stages the weights' `<stem>.int8.json` plan names run
                in int8; see dirnet.runtime.quantize) or "auto": int8 when such a plan was made
                for these weights, else fp32. int8 runs on the "onnxruntime" backend only.
            threads, cache_dir: see Estimator.

        Raises:
            FileNotFoundError: an explicit path that does not exist.
            ValueError: unreadable, truncated or mismatching weights, the wrong hand model, an
                unknown precision, or "int8" without a plan for these weights or on another backend.
        """
        hand = create_hand_model(hand_model, mano_path) if hand_model else None
        if path is None and not checkpoint_paths(DEFAULT_WEIGHTS)[0].is_file():
            message = (f"no trained DIR-Net weights at {DEFAULT_WEIGHTS}.safetensors: "
                       "running an UNTRAINED model, its poses are meaningless")
            warnings.warn(message, RuntimeWarning, stacklevel=2)
            log.warning(message)
            hand = hand or create_hand_model("open")
            cfg = DIRNetConfig(num_shape=hand.num_shape, hand_model=hand.name)
            model, defaults, meta, trained = DIRNet(cfg, hand), EstimatorDefaults(), {}, False
        else:
            model, meta = load_checkpoint(path or DEFAULT_WEIGHTS, hand=hand, map_location=device)
            try:
                defaults, trained = EstimatorDefaults.from_dict(meta.get("defaults", {})), True
            except ValueError as exc:
                raise ValueError(f"{checkpoint_paths(path or DEFAULT_WEIGHTS)[1]}: {exc}") from None
        if backend == "auto":
            backend = "onnxruntime" if torch.device(device).type == "cpu" else "eager"
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if precision == "int8" and backend != "onnxruntime":
            raise ValueError(f"int8 runs on the onnxruntime backend, not {backend!r}")
        plan = (load_plan(precision, path or DEFAULT_WEIGHTS if trained else None, model)
                if backend == "onnxruntime" else None)
        estimator = cls(model, defaults, is_trained=trained, metadata=meta, device=device,
                        backend=backend, threads=threads, cache_dir=cache_dir, plan=plan)
        if trained:
            estimator.weights_path = checkpoint_paths(path or DEFAULT_WEIGHTS)[0].resolve()
        return estimator

    def __enter__(self) -> "Estimator":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def policy(self, exit_mode: str | None = None, tau_var: float | None = None,
               tau_gate: float | None = None, max_loops: int | None = None,
               sample: bool = False) -> ExitPolicy:
        """The ExitPolicy for these arguments, defaults filled in."""
        d = self.defaults
        return ExitPolicy(exit_mode=exit_mode or d.exit_mode, tau_var=d.tau_var if tau_var is None else tau_var,
                          tau_gate=d.tau_gate if tau_gate is None else tau_gate,
                          max_loops=min(max_loops or d.max_loops, self.model.cfg.max_loops),
                          sample=sample)

    @torch.no_grad()
    def estimate(self, images: np.ndarray | Sequence[np.ndarray], handedness: Sequence[str] | str = "right",
                 boxes: Sequence[Box] | None = None, exit_mode: str | None = None, tau_var: float | None = None,
                 tau_gate: float | None = None, max_loops: int | None = None, sample: bool = False,
                 reframe: bool = False) -> list[HandPose]:
        """Estimate one hand per crop, or one hand per box of a frame.

        Args:
            images: RGB uint8 crops (H, W, 3), each roughly centred on one hand; or, with `boxes`,
                one RGB uint8 frame (H, W, 3).
            handedness: "left"/"right" per crop or box (the hand as it appears in the image), or
                one value for all.
            boxes: square hand regions of the frame (frame px, e.g. from a detector or a tracker);
                each is cut out at the network's input size, a left hand mirrored in.
            exit_mode: "none", "variance" or "gate" (default from the weights).
            tau_var: variance threshold (px^2 of a 224 px crop and mm^2).
            tau_gate: gate softmax temperature; higher exits earlier.
            max_loops: most refiner passes.
            sample: sample the gate's actions instead of its deterministic median exit.
            reframe: for crops that frame the hand loosely (see dirnet.crop.reframe_box), run again
                on the box the network was trained to see around the first estimate; such poses
                cost both passes' GFLOPs and have `reframed` set. Not with `boxes`.
        Returns:
            One HandPose per crop or box, in order, its 2D results in px of the image given (the
            crop, or the frame); [] for none.
        Raises:
            ValueError: an image that is not (H, W, 3) uint8, one image without boxes, a box of no
                size, reframe with boxes, or a bad handedness/exit setting.
        """
        if boxes is None:
            if isinstance(images, np.ndarray):
                raise ValueError("one image needs boxes=[...]; pass crops as a list")
            sources = list(images)
            for i, crop in enumerate(sources):
                _check_image(crop, f"crop {i}")
        else:
            if reframe:
                raise ValueError("reframe is for loosely framed crops; boxes already frame their hands")
            _check_image(images, "the frame")
            sources = [images] * len(boxes)
            for box in boxes:
                if not box.size > 0:
                    raise ValueError(f"a box needs a size > 0, got {box}")
        if isinstance(handedness, str):
            handedness = [handedness] * len(sources)
        if len(handedness) != len(sources):
            raise ValueError(f"{len(sources)} hands but {len(handedness)} handedness values")
        for hand in handedness:
            if hand not in ("left", "right"):
                raise ValueError(f"handedness must be 'left' or 'right', got {hand!r}")
        policy = self.policy(exit_mode, tau_var, tau_gate, max_loops, sample)
        if not sources:
            return []
        poses = self._run(sources, handedness, policy, boxes or [_whole_box(c) for c in sources])
        if reframe:
            tighter = {i: reframe_box(p.joints2d, *sources[i].shape[:2]) for i, p in enumerate(poses)}
            redo = [i for i, box in tighter.items() if box is not None]
            if redo:
                again = self._run([sources[i] for i in redo], [handedness[i] for i in redo], policy,
                                  [tighter[i] for i in redo])
                for i, pose in zip(redo, again):
                    poses[i] = replace(pose, gflops=poses[i].gflops + pose.gflops, reframed=True)
        return poses

    def _run(self, images: Sequence[np.ndarray], handedness: Sequence[str], policy: ExitPolicy,
             boxes: Sequence[Box]) -> list[HandPose]:
        """Cut each box out of its image (mirroring left hands), run, and map back to image px."""
        res = self.input_res
        batch = np.empty((len(images), res, res, 3), dtype=np.uint8)
        matrices = []
        for i, (image, hand, box) in enumerate(zip(images, handedness, boxes)):
            m = crop_matrix(box, res, mirror=hand == "left")
            if image.shape[:2] == (res, res) and box == _whole_box(image):  # a copy or flip is exact
                batch[i] = image[:, ::-1] if hand == "left" else image
            else:
                batch[i] = warp(image, m, res)
            matrices.append(m)
        tensor = torch.from_numpy(batch).to(self.runner.device).permute(0, 3, 1, 2).float().div_(255.0)
        result = run_with_exits(self.runner, tensor, policy)
        return [self._pose(result, i, m, box, hand, policy)
                for i, (m, box, hand) in enumerate(zip(matrices, boxes, handedness))]

    def _pose(self, result, i: int, matrix: np.ndarray, box: Box, hand: str, policy: ExitPolicy) -> HandPose:
        loops = int(result.loops[i])
        to_image = invert_affine(matrix)
        # Variance in px^2 of a 224 px crop -> the image's px^2 (the affine is a uniform scale).
        input_px_per_image_px = np.sqrt(abs(np.linalg.det(matrix[:, :2])))
        var2d_scale = (self.input_res / REFERENCE_RES / input_px_per_image_px) ** 2
        left = hand == "left"

        def j3d(x: torch.Tensor) -> np.ndarray:
            out = x.cpu().numpy().astype(np.float32)
            if left:
                out[..., 0] *= -1
            return out

        trace = tuple(
            LoopTrace(
                joints2d=transform_points(result.joints2d[l, i].cpu().numpy(), to_image).astype(np.float32),
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
            gflops=self.stage_flops.gflops(loops, gate=policy.exit_mode == "gate"), trace=trace, box=box)


def _check_image(image, name: str) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 \
            or image.shape[2] != 3 or min(image.shape[:2]) < 8:
        raise ValueError(f"{name} must be an RGB uint8 array (H, W, 3) of at least 8 px, got "
                         f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}")


def _whole_box(image: np.ndarray) -> Box:
    """The whole image, padded to a square about its centre (a non-square crop is not distorted)."""
    h, w = image.shape[:2]
    return Box((w - 1) / 2.0, (h - 1) / 2.0, float(max(h, w)))
