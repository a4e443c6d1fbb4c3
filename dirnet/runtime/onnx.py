"""ONNX graphs of DIR-Net's inference stages, and ONNX Runtime sessions to run them.

Every stage of `InferenceStages` becomes its own graph with a dynamic batch axis, so the exit loop
(per-sample decisions after every refiner pass) runs in Python between graph calls:

    features  images (B, 3, R, R) RGB in [0, 1]            -> features (B, C, R/8, R/8)
    refine_0  features                                     -> refined (B, 8C', R/32, R/32)
    refine_l  features, attention (l >= 1)                 -> refined
    attention refined                                      -> attention (B, C, R/8, R/8) in [0, 1]
    head      refined                                      -> HEAD_OUTPUTS (LoopOutput's regressed
              fields: pose parameters, uncertainty, gate logits; not the hand model's)
    joints    JOINTS_INPUTS (pose, shape, rotation,        -> JOINTS_OUTPUTS (joints2d, joints3d,
              scale, trans)                                   skinning), run once for the rows of
                                                              every loop run
    mesh      MESH_INPUTS (skinning, shape)                -> vertices (B, V, 3), run once for the
              loop each sample exits at

The graphs are made with PyTorch's TorchScript-based exporter (`dynamo=False`): on this 2-core CPU
it exports a stage in under a second where the torch.export-based exporter takes 9-22 s, and both
graphs run equally fast in ONNX Runtime (see docs/PERFORMANCE.md). That keeps building the fast
path from a checkpoint at start-up practical.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from ..models.dirnet import DIRNet
from .stages import HEAD_OUTPUTS, JOINTS_INPUTS, JOINTS_OUTPUTS, MESH_INPUTS, InferenceStages

__all__ = ["OPSET", "StageGraph", "stage_graphs", "create_session"]

OPSET = 17


@dataclass(frozen=True)
class StageGraph:
    """One exported stage.

    name: "features", "refine_<l>", "attention", "head", "joints" or "mesh".
    inputs, outputs: tensor names, in call order.
    model: serialized ONNX ModelProto.
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    model: bytes


def _export(module: nn.Module, args: tuple[torch.Tensor, ...], inputs: tuple[str, ...],
            outputs: tuple[str, ...]) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated upstream but still shipped; see the module docstring.
        warnings.simplefilter("ignore", DeprecationWarning)
        # F.pad exports its pads reversed by a step -1 Slice of constants, which the exporter does
        # not fold; ONNX Runtime folds it when the session is created (the graph stays small).
        warnings.filterwarnings("ignore", "Constant folding - Only steps=1", UserWarning)
        torch.onnx.export(module, args, buffer, input_names=list(inputs), output_names=list(outputs),
                          dynamic_axes={name: {0: "batch"} for name in inputs + outputs},
                          opset_version=OPSET, do_constant_folding=True, dynamo=False)
    return buffer.getvalue()


@torch.no_grad()
def stage_graphs(model: DIRNet | InferenceStages, batch: int = 2) -> list[StageGraph]:
    """Export every stage of a DIRNet (BatchNorms folded, one refiner per loop).

    Args:
        model: a DIRNet (folded here) or its InferenceStages.
        batch: batch size of the example inputs used for tracing; the batch axis stays dynamic.
    Returns:
        features, refine_0 .. refine_{max_loops-1}, attention, head, joints, mesh, in that order.
    """
    stages = model if isinstance(model, InferenceStages) else InferenceStages(model)
    stages = stages.cpu().eval()
    res = stages.cfg.input_res
    images = torch.rand(batch, 3, res, res, generator=torch.Generator().manual_seed(0))
    features = stages.features(images)
    refined = stages.refiners[0](features)
    attention = stages.attention(refined)
    graphs = [StageGraph("features", ("images",), ("features",),
                         _export(stages.features, (images,), ("images",), ("features",)))]
    for loop, refiner in enumerate(stages.refiners):
        inputs = ("features",) if loop == 0 else ("features", "attention")
        args = (features,) if loop == 0 else (features, attention)
        graphs.append(StageGraph(f"refine_{loop}", inputs, ("refined",),
                                 _export(refiner, args, inputs, ("refined",))))
    graphs.append(StageGraph("attention", ("refined",), ("attention",),
                             _export(stages.attention, (refined,), ("refined",), ("attention",))))
    graphs.append(StageGraph("head", ("refined",), HEAD_OUTPUTS,
                             _export(stages.head, (refined,), ("refined",), HEAD_OUTPUTS)))
    head = dict(zip(HEAD_OUTPUTS, stages.head(refined)))
    joints_args = tuple(head[name] for name in JOINTS_INPUTS)
    graphs.append(StageGraph("joints", JOINTS_INPUTS, JOINTS_OUTPUTS,
                             _export(stages.joints, joints_args, JOINTS_INPUTS, JOINTS_OUTPUTS)))
    head |= dict(zip(JOINTS_OUTPUTS, stages.joints(*joints_args)))
    mesh_args = tuple(head[name] for name in MESH_INPUTS)
    graphs.append(StageGraph("mesh", MESH_INPUTS, ("vertices",),
                             _export(stages.mesh, mesh_args, MESH_INPUTS, ("vertices",))))
    return graphs


def create_session(model: bytes | str, threads: int = 1, spin: bool = False,
                   profile_prefix: str | None = None):
    """An ONNX Runtime CPU session tuned for batch-1 latency on a few cores.

    Args:
        model: serialized ModelProto or a path to a .onnx file.
        threads: intra-op threads (ORT's own pool; independent of torch's).
        spin: let idle pool threads busy-wait between ops. Off by default: on a 2-core machine
            shared with capture, UI and MediaPipe threads, spinning steals their cycles.
        profile_prefix: write ORT's per-node profile to `<prefix>_<date>.json` (see end_profiling).
    Returns:
        onnxruntime.InferenceSession.
    """
    import onnxruntime as ort  # lazy: only the ONNX backend needs it

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    options.log_severity_level = 3  # warnings about unused initializers etc. are noise here
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
