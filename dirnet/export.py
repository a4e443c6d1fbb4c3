"""Export DIR-Net's inference stages to ONNX (`python -m dirnet.export --out DIR [--weights W]`).

Writes one graph per stage (see `dirnet.runtime.onnx`: features, refine_0..refine_{L-1} with each
loop's BatchNorms folded, attention, head with the pose parameters, uncertainty and gate logits,
joints, the hand model's joints and skinning state from the head's pose parameters, and mesh, the
hand's vertices from that skinning state and shape), all
with a dynamic batch axis, plus `manifest.json` describing inputs, outputs and the exit loop that
a runtime must drive between them. Each graph is checked against PyTorch in ONNX Runtime before
the command reports success.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .cli import EXIT_USAGE, configure_logging, fail
from .exit_policy import EXIT_MODES
from .runtime.onnx import OPSET, StageGraph, create_session, stage_graphs
from .runtime.stages import HEAD_OUTPUTS, JOINTS_INPUTS, JOINTS_OUTPUTS, MESH_INPUTS, InferenceStages
from .io import write_bytes_atomic, write_text_atomic

__all__ = ["ExportConfig", "export_onnx", "check_graph", "MANIFEST_FORMAT", "main"]

log = logging.getLogger(__name__)

# v2: the head regresses only; joints.onnx and mesh.onnx run after the exit loop (hooks 3, 3b)
MANIFEST_FORMAT = "dirnet-onnx-v2"

_EXIT_LOOP = (
    "features = features(images); for l in 0..max_loops-1: refined = refine_l(features) if l == 0 "
    "else refine_l(features, attention); out = head(refined); exit per sample by the policy "
    "(variance: mean(exp(alpha2d), exp(alpha3d)) < tau_var; gate: P(EXIT) = softmax(gate_logits / "
    "tau_gate)[:, 0], exit once prod(1 - P(EXIT)) <= 0.5 or by sampling); samples that continue get "
    "attention = attention(refined) and leave the batch when they exit; after the last loop the joints "
    "of every loop run are posed in one call, joints2d, joints3d, skinning = joints(pose, shape, rotation, "
    "scale, trans) on the head outputs of all loops concatenated along the batch axis, and the mesh is "
    "made once per sample, vertices = mesh(skinning, shape) of the loop it exited at.")


@dataclass
class ExportConfig:
    """Command-line settings of `python -m dirnet.export`."""

    out: Path  # folder for the graphs and manifest.json
    weights: Path | None = None
    tolerance: float = 1e-4


def _stage_inputs(stages: InferenceStages, batch: int, seed: int = 1) -> dict[str, dict[str, torch.Tensor]]:
    """Random inputs for every stage, chained through the model so each is in its real range."""
    g = torch.Generator().manual_seed(seed)
    res = stages.cfg.input_res
    images = torch.rand(batch, 3, res, res, generator=g)
    features = stages.features(images)
    refined = stages.refiners[0](features)
    attention = stages.attention(refined)
    head = dict(zip(HEAD_OUTPUTS, stages.head(refined)))
    joints = {name: head[name] for name in JOINTS_INPUTS}
    head |= dict(zip(JOINTS_OUTPUTS, stages.joints(*joints.values())))
    inputs = {"features": {"images": images}, "attention": {"refined": refined}, "head": {"refined": refined},
              "joints": joints, "mesh": {name: head[name] for name in MESH_INPUTS}}
    for loop in range(stages.cfg.max_loops):
        inputs[f"refine_{loop}"] = ({"features": features} if loop == 0
                                    else {"features": features, "attention": attention})
    return inputs


@torch.no_grad()
def check_graph(graph: StageGraph | str | Path, stages: InferenceStages, name: str | None = None,
                batch: int = 3) -> float:
    """Largest relative error of one stage's ONNX Runtime outputs against the PyTorch stage.

    Args:
        graph: a StageGraph or an exported .onnx file.
        stages: the folded PyTorch stages the graph was made from.
        name: the stage name (default: the StageGraph's, or the file's stem).
        batch: batch size of the random inputs (tests the dynamic batch axis when != 2).
    Returns:
        max |onnx - torch| / max(1, max |torch|), over all outputs (a relative error for large
        outputs such as mm or px, an absolute one below 1).
    """
    name = name or (graph.name if isinstance(graph, StageGraph) else Path(graph).stem)
    session = create_session(graph.model if isinstance(graph, StageGraph) else str(graph))
    feeds = _stage_inputs(stages, batch)[name]
    module = {"features": stages.features, "attention": stages.attention, "head": stages.head,
              "joints": stages.joints, "mesh": stages.mesh}.get(name)
    if module is None:
        module = stages.refiners[int(name.split("_")[1])]
    expected = module(*feeds.values())
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = session.run(None, {k: v.numpy() for k, v in feeds.items()})
    worst = 0.0
    for want, have in zip(expected, got):
        want = want.numpy()
        scale = max(1.0, float(np.abs(want).max()))
        worst = max(worst, float(np.abs(have - want).max()) / scale)
    return worst


def _io_spec(session) -> list[dict]:
    return [{"name": t.name, "shape": [d if isinstance(d, int) else "batch" for d in t.shape],
             "dtype": "float32"} for t in session]


def export_onnx(model, out_dir: str | os.PathLike, metadata: dict | None = None,
                tolerance: float = 1e-4) -> dict:
    """Export every stage of a DIRNet and its manifest into out_dir; returns the manifest.

    Args:
        model: DIRNet (eval mode; its BatchNorm running statistics are folded in).
        out_dir: created if missing; files are written under temporary names and renamed.
        metadata: extra manifest entries (e.g. the weights path and exit defaults).
        tolerance: largest relative error accepted against PyTorch.
    Raises:
        ValueError: a graph that disagrees with PyTorch by more than `tolerance`.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stages = InferenceStages(model)
    manifest_stages = {}
    for graph in stage_graphs(stages):
        error = check_graph(graph, stages)
        if error > tolerance:
            raise ValueError(f"ONNX stage {graph.name} differs from PyTorch by {error:.2e} "
                             f"(tolerance {tolerance:.0e})")
        session = create_session(graph.model)
        write_bytes_atomic(out / f"{graph.name}.onnx", graph.model)
        manifest_stages[graph.name] = {
            "file": f"{graph.name}.onnx", "inputs": _io_spec(session.get_inputs()),
            "outputs": _io_spec(session.get_outputs()), "max_rel_error_vs_torch": error}
    cfg = stages.cfg
    manifest = {
        "format": MANIFEST_FORMAT, "opset": OPSET, "config": cfg.to_dict(),
        "hand_model": model.hand.name, "input": "RGB float32 in [0, 1], NCHW, "
        f"{cfg.input_res}x{cfg.input_res}; ImageNet normalisation is inside features.onnx",
        "units": {"joints2d": "px of the network input", "joints3d": "mm, camera axes, wrist-relative",
                  "vertices": "mm", "alpha2d": "log px^2 of a 224 px crop", "alpha3d": "log mm^2",
                  "skinning": "the hand model's state that mesh.onnx turns into vertices"},
        "exit_modes": list(EXIT_MODES), "exit_loop": _EXIT_LOOP, "stages": manifest_stages,
        **(metadata or {})}
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=2) + "\n")
    return manifest


def _parse(argv: list[str] | None) -> ExportConfig:
    parser = argparse.ArgumentParser(prog="python -m dirnet.export", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--weights", type=Path, default=None,
                        help="checkpoint stem or .safetensors (default: the shipped weights, else an "
                             "untrained model)")
    parser.add_argument("--tolerance", type=float, default=1e-4,
                        help="largest relative error accepted against PyTorch")
    return ExportConfig(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    config = _parse(argv)
    configure_logging()
    from .estimator import Estimator

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the untrained warning is logged anyway
            estimator = Estimator.from_pretrained(config.weights, backend="eager")
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    metadata = {"weights": str(config.weights) if config.weights else "default",
                "trained": estimator.is_trained, "defaults": asdict(estimator.defaults)}
    try:
        manifest = export_onnx(estimator.model, config.out, metadata, config.tolerance)
    except (ValueError, OSError) as exc:
        return fail(str(exc))
    for stage in manifest["stages"].values():
        size = (config.out / stage["file"]).stat().st_size
        print(f"{stage['file']:18} {size / 1024:8.1f} KiB  max rel. error vs PyTorch "
              f"{stage['max_rel_error_vs_torch']:.1e}")
    log.info("wrote %d graphs and manifest.json to %s", len(manifest["stages"]), config.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
