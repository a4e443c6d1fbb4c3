"""FastDIRNet: a staged model (dirnet.models.StagedModel) that runs folded stages in ONNX Runtime.

It has exactly the interface the exit loop uses, so the exit policy, its per-sample decisions and
its results are the library's own, unchanged:

    fast = FastDIRNet(model)                       # folds BatchNorms, exports, opens sessions
    result = run_with_exits(fast, images, policy)  # or fast.run(images, policy)
    Estimator(model, backend="onnxruntime")        # what the Estimator builds on the CPU

Backends: "onnxruntime" (default, CPU: its convolution stages run 3-4x faster than any PyTorch
variant measured here, a whole crop 2-2.6x faster than eager; see docs/PERFORMANCE.md) and "torch"
(the same folded stages in eager PyTorch, channels-last; for other devices or without onnxruntime).
"""
from __future__ import annotations

import os
from typing import Sequence

import cv2
import numpy as np
import torch

from ..exit_policy import ExitPolicy
from ..exits import ExitResult, run_with_exits
from ..models.dirnet import DIRNet
from ..models.staged import LoopOutput
from .cache import cached_stage_graphs
from .onnx import create_session, stage_graphs
from .quantize import Int8Plan
from .stages import HEAD_OUTPUTS, JOINTS_INPUTS, JOINTS_OUTPUTS, MESH_INPUTS, InferenceStages

__all__ = ["BACKENDS", "FastDIRNet", "auto_threads", "configure_threads", "images_to_tensor"]

BACKENDS = ("onnxruntime", "torch")


def auto_threads(cpus: int | None = None) -> tuple[int, str]:
    """Intra-op threads for batch-1 inference on a machine with `cpus` logical CPUs (default: this one).

    1 on up to 2 logical CPUs: measured here, a second thread loses once MediaPipe, capture and the
    UI (or any other process) want the other core (docs/PERFORMANCE.md). 2 on larger machines: a
    second thread nearly halved FE on an idle core here; more were not measured (no such machine).

    Returns:
        (threads, the rule that chose them, for reports).
    """
    cpus = cpus or os.cpu_count() or 1
    threads = 1 if cpus <= 2 else 2
    return threads, f"auto: {threads} on {cpus} logical CPUs (1 on <= 2, else 2)"


def configure_threads(threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads (and inter-op threads, when still allowed) for inference.

    Args:
        threads: threads to use; default all cores (`os.cpu_count()`).
    Returns:
        The thread count set.
    """
    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    try:
        # Stages are sequential: one inter-op thread avoids an idle pool competing for cores.
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # only settable before the first parallel op; the default is harmless
    return threads


def images_to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Network input from uint8 NHWC RGB crops (OpenCV, one pass) or a float NCHW tensor in [0, 1].

    Args:
        images: (B, R, R, 3) uint8 RGB, or (B, 3, R, R) float32 tensor in [0, 1] (returned as is).
    Returns:
        (B, 3, R, R) float32 contiguous tensor in [0, 1].
    Raises:
        ValueError: any other dtype or shape.
    """
    if isinstance(images, torch.Tensor):
        if images.dim() != 4 or images.shape[1] != 3 or images.dtype != torch.float32:
            raise ValueError(f"tensor images must be (B, 3, R, R) float32, got {images.dtype} "
                             f"{tuple(images.shape)}")
        return images
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(f"array images must be (B, R, R, 3) uint8, got {images.dtype} {images.shape}")
    # blobFromImages converts, scales and transposes to NCHW in a single C++ pass.
    blob = cv2.dnn.blobFromImages(list(images), scalefactor=1.0 / 255.0, swapRB=False, crop=False)
    return torch.from_numpy(blob)


class _OrtStage:
    """One ONNX Runtime session called with and returning CPU float32 tensors."""

    def __init__(self, model: bytes, inputs: Sequence[str], outputs: Sequence[str], threads: int,
                 spin: bool):
        self.session = create_session(model, threads, spin)
        self.inputs = tuple(inputs)
        self.outputs = list(outputs)

    def __call__(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feeds = {name: np.ascontiguousarray(t.numpy()) for name, t in zip(self.inputs, tensors)}
        return tuple(torch.from_numpy(a) for a in self.session.run(self.outputs, feeds))


class _TorchStage:
    """One folded stage module in eager PyTorch, channels-last for the convolutions."""

    def __init__(self, module: torch.nn.Module):
        self.module = module

    def __call__(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # Feature maps go channels-last; the joints and mesh stages' inputs are not images (nor 4-D).
        out = self.module(*(t.contiguous(memory_format=torch.channels_last) if t.dim() == 4 else t
                            for t in tensors))
        return out if isinstance(out, tuple) else (out,)


class FastDIRNet:
    """Inference-only DIR-Net with BatchNorms folded (one refiner per loop) on a fast backend.

    Args:
        model: the trained DIRNet; not modified (its weights are copied into the folded stages).
        backend: "onnxruntime" or "torch".
        threads: intra-op threads for the ONNX Runtime sessions (default 1: see PERFORMANCE.md;
            the torch backend uses torch's global setting, see `configure_threads`).
        spin: let ONNX Runtime's pool threads busy-wait (only matters with threads > 1).
        cache_dir: keep the exported ONNX graphs here and reuse them while the weights and code
            are unchanged (dirnet.runtime.cache); None exports every time.
        plan: run its stages in int8 (dirnet.runtime.quantize; "onnxruntime" backend only).

    Attributes:
        cfg, hand: the model's config and hand model (what the exit loop and the Estimator read).
        device: where inputs go (the CPU for ONNX Runtime, the model's device for "torch").
        backend: the backend in use.
        plan: the Int8Plan in use, or None.
        precision: "int8" when some stages run in int8, else "fp32".
        from_cache: the ONNX graphs were read from `cache_dir` rather than exported.

    Raises:
        ValueError: unknown backend, threads < 1, or a plan for other weights or another backend.
    """

    def __init__(self, model: DIRNet, backend: str = "onnxruntime", threads: int = 1,
                 spin: bool = False, cache_dir: str | os.PathLike | None = None,
                 plan: Int8Plan | None = None):
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}, known: {list(BACKENDS)}")
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if plan is not None:
            if backend != "onnxruntime":
                raise ValueError(f"int8 runs on the onnxruntime backend, not {backend!r}")
            plan.check(model)
        self.cfg = model.cfg
        self.hand = model.hand
        self.device = torch.device("cpu") if backend == "onnxruntime" else model.device
        self.backend = backend
        self.plan = plan if plan is not None and plan.stages else None
        self.precision = "fp32" if self.plan is None else "int8"
        self.from_cache = False
        if backend == "onnxruntime":
            if cache_dir is not None:
                exported, self.from_cache = cached_stage_graphs(model, cache_dir, self.plan)
            elif self.plan is None:
                exported = stage_graphs(model)
            else:
                exported = self.plan.apply(stage_graphs(model))
            graphs = {g.name: _OrtStage(g.model, g.inputs, g.outputs, threads, spin) for g in exported}
            self._features = graphs["features"]
            self._refiners = [graphs[f"refine_{l}"] for l in range(self.cfg.max_loops)]
            self._attention = graphs["attention"]
            self._head = graphs["head"]
            self._joints = graphs["joints"]
            self._mesh = graphs["mesh"]
        else:
            stages = InferenceStages(model).to(memory_format=torch.channels_last)
            self._features = _TorchStage(stages.features)
            self._refiners = [_TorchStage(r) for r in stages.refiners]
            self._attention = _TorchStage(stages.attention)
            self._head = _TorchStage(stages.head)
            self._joints = _TorchStage(stages.joints)
            self._mesh = _TorchStage(stages.mesh)

    # The StagedModel interface.
    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, R, R) float RGB in [0, 1] -> FE features, as DIRNet.forward_features."""
        return self._features(images)[0]

    def forward_refine(self, features: torch.Tensor, loop: int,
                       attention: torch.Tensor | None = None) -> torch.Tensor:
        """Refiner pass `loop` (its own folded BatchNorms), as DIRNet.forward_refine."""
        if not 0 <= loop < self.cfg.max_loops:
            raise ValueError(f"loop must be in 0..{self.cfg.max_loops - 1}, got {loop}")
        if (attention is None) != (loop == 0):
            raise ValueError("attention is required after loop 0 and not accepted at loop 0")
        args = (features,) if attention is None else (features, attention)
        return self._refiners[loop](*args)[0]

    def attention(self, refined: torch.Tensor) -> torch.Tensor:
        """Attention map in [0, 1] shaped like the FE features, as DIRNet.attention."""
        return self._attention(refined)[0]

    def forward_head(self, refined: torch.Tensor) -> LoopOutput:
        """Pose parameters, uncertainty and gate logits, as DIRNet.forward_head."""
        return LoopOutput(**dict(zip(HEAD_OUTPUTS, self._head(refined))))

    def forward_joints(self, out: LoopOutput) -> dict[str, torch.Tensor]:
        """The hand model's joints and skinning state of `out`'s rows, as DIRNet.forward_joints."""
        return dict(zip(JOINTS_OUTPUTS, self._joints(*(getattr(out, name) for name in JOINTS_INPUTS))))

    def forward_mesh(self, out: LoopOutput) -> torch.Tensor:
        """(B, V, 3) vertices of a pass's hand, as DIRNet.forward_mesh."""
        return self._mesh(*(getattr(out, name) for name in MESH_INPUTS))[0]

    @torch.no_grad()
    def run(self, images: np.ndarray | torch.Tensor, policy: ExitPolicy) -> ExitResult:
        """Run with per-sample dynamic exits.

        Args:
            images: (B, R, R, 3) uint8 RGB crops at cfg.input_res, or (B, 3, R, R) float32 in [0, 1].
            policy: the exit rule (see ExitPolicy).
        Returns:
            ExitResult, as `run_with_exits(model, images, policy)`.
        """
        tensor = images_to_tensor(images)
        res = self.cfg.input_res
        if tuple(tensor.shape[2:]) != (res, res):
            raise ValueError(f"images must be {res}x{res}, got {tuple(tensor.shape[2:])}")
        return run_with_exits(self, tensor, policy)
