"""Static int8 quantisation of the fast path's stage graphs (ONNX Runtime, QDQ format).

Weights are int8 per output channel; activations are uint8 with ranges calibrated on real hand
crops (MinMax over the inputs each stage sees in every loop of the fp32 graphs). Weights use 7 bits
(`reduce_range`): CPUs without VNNI (AVX2, AVX-512F) multiply u8 x s8 with vpmaddubsw, whose int16
pair sums saturate with full 8-bit weights.

Which stages run in int8 is an `Int8Plan`, chosen by measurement (`python -m dirnet.runtime.calibrate`)
and stored beside the weights as `<stem>.int8.json`, with the activation ranges that quantise those
stages. The ranges are tied to the weights by `weights_digest`; a plan for other weights is refused.

    plan = Int8Plan.load(plan_path(weights))          # or Int8Plan(stages, calibrate(graphs, crops), ...)
    graphs = plan.apply(stage_graphs(model))          # chosen stages quantised, the rest fp32
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import onnx
from tqdm import tqdm

from ..io import write_text_atomic
from ..weights import checkpoint_paths
from .onnx import StageGraph, create_session

__all__ = ["STAGE_KINDS", "PRECISIONS", "stage_kind", "quantizable", "stage_inputs", "calibrate", "graph_ranges",
           "quantize_graph", "Int8Plan", "plan_path", "load_plan", "weights_digest"]

# The stages that can run in int8. Not "joints" nor "mesh": they are only the hand model's posing and
# skinning (exact geometry, see below), once per crop.
STAGE_KINDS = ("features", "refine", "attention", "head")
# fp32 everywhere; int8 for the stages of the weights' plan; "auto": int8 when a plan is shipped.
PRECISIONS = ("auto", "fp32", "int8")
# In the head only the network's own layers are quantised (not its rotation and camera arithmetic).
# The hand model's kinematic chain and skinning, in the joints and mesh graphs, are exact geometry:
# quantising them (when the head still posed the joints) moved joints by most of their range.
_HEAD_LAYERS = ("/pose_head/", "/var_head/", "/gate/", "/readout/")


def stage_kind(name: str) -> str:
    """"refine" for every "refine_<l>" graph, else the graph's own name."""
    return "refine" if name.startswith("refine_") else name


def quantizable(graphs: Sequence[StageGraph]) -> list[StageGraph]:
    """The graphs of STAGE_KINDS, in order (every stage graph but the joints and the mesh)."""
    return [g for g in graphs if stage_kind(g.name) in STAGE_KINDS]


def weights_digest(model) -> str:
    """Hex digest of a DIRNet's weights and buffers (what an Int8Plan's ranges depend on)."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def stage_inputs(graphs: Sequence[StageGraph], images: np.ndarray, batch: int = 16
                 ) -> dict[str, list[dict[str, np.ndarray]]]:
    """The feeds every stage graph gets when the fp32 graphs run all loops on `images`.

    Args:
        graphs: fp32 `stage_graphs` (features, refine_0.., attention, head, joints, mesh).
        images: (N, 3, R, R) float32 RGB in [0, 1].
        batch: images per feed.
    Returns:
        graph name -> list of feed dicts (input name -> array), for the `quantizable` graphs;
        attention and head get every loop's.
    """
    by_name = {g.name: g for g in quantizable(graphs)}
    sessions = {name: create_session(g.model) for name, g in by_name.items()}
    loops = sum(1 for name in by_name if name.startswith("refine_"))
    feeds: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in by_name}
    for start in range(0, len(images), batch):
        x = np.ascontiguousarray(images[start:start + batch], dtype=np.float32)
        feeds["features"].append({"images": x})
        features = sessions["features"].run(None, {"images": x})[0]
        attention = None
        for loop in range(loops):
            feed = {"features": features} if attention is None else {"features": features, "attention": attention}
            feeds[f"refine_{loop}"].append(feed)
            refined = sessions[f"refine_{loop}"].run(None, feed)[0]
            feeds["head"].append({"refined": refined})
            if loop + 1 < loops:
                feeds["attention"].append({"refined": refined})
                attention = sessions["attention"].run(None, {"refined": refined})[0]
    return feeds


@contextlib.contextmanager
def _quiet_quantizer():
    """Drop onnxruntime.quantization's advice ("consider pre-processing") from the root logger:
    it is logged on every call and is not actionable here (the graphs are already optimised)."""
    def keep(record: logging.LogRecord) -> bool:
        return "onnxruntime" not in record.pathname

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


class _Feeds:
    """onnxruntime's CalibrationDataReader protocol over a list of feed dicts."""

    def __init__(self, feeds: Iterable[dict[str, np.ndarray]]):
        self._it = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._it, None)


def _quantized_nodes(graph: StageGraph) -> list[str]:
    """Names of the nodes to quantise: every node, except outside the head's learned layers."""
    if stage_kind(graph.name) != "head":
        return []  # [] = all nodes of every quantisable op type
    nodes = onnx.load_from_string(graph.model).graph.node
    return [n.name for n in nodes if n.name.startswith(_HEAD_LAYERS)]


def _calibrated_ops(graph: StageGraph) -> list[str] | None:
    """Op types whose tensors need ranges: all (None), but in the head only its layers', the only
    nodes of it quantised (the spatial readout's ReLU is a node of its own)."""
    return ["Gemm", "Conv", "Relu"] if stage_kind(graph.name) == "head" else None


def calibrate(graphs: Sequence[StageGraph], images: np.ndarray, kinds: Sequence[str] = STAGE_KINDS,
              batch: int = 16) -> dict[str, dict[str, tuple[float, float]]]:
    """MinMax activation ranges of the chosen graphs over every loop's inputs on `images`.

    Args:
        graphs: fp32 `stage_graphs`.
        images: (N, 3, R, R) float32 RGB in [0, 1], real hand crops.
        kinds: stage kinds to calibrate (see STAGE_KINDS).
        batch: images per calibration feed.
    Returns:
        graph name -> tensor name -> (lowest, highest).
    """
    feeds = stage_inputs(graphs, images, batch)
    chosen = [g for g in graphs if stage_kind(g.name) in kinds]
    return {g.name: graph_ranges(g, feeds[g.name]) for g in tqdm(chosen, desc="calibrate", unit="graph",
                                                                 disable=None)}


def graph_ranges(graph: StageGraph, feeds: Iterable[dict[str, np.ndarray]]) -> dict[str, tuple[float, float]]:
    """MinMax ranges of one graph's tensors over `feeds` (input name -> array dicts)."""
    from onnxruntime.quantization import CalibrationMethod, create_calibrator

    with tempfile.TemporaryDirectory(prefix="dirnet-calib-") as tmp, _quiet_quantizer():
        path = Path(tmp) / f"{graph.name}.onnx"
        path.write_bytes(graph.model)
        calibrator = create_calibrator(path, _calibrated_ops(graph), augmented_model_path=str(Path(tmp) / "aug.onnx"),
                                       calibrate_method=CalibrationMethod.MinMax)
        calibrator.collect_data(_Feeds(feeds))
        data = calibrator.compute_data()
    return {name: (float(np.asarray(d.range_value[0]).item()), float(np.asarray(d.range_value[1]).item()))
            for name, d in data.data.items()}


def quantize_graph(graph: StageGraph, ranges: dict[str, tuple[float, float]]) -> StageGraph:
    """A QDQ int8 copy of one stage graph (same name, inputs and outputs, float32 in and out).

    Args:
        graph: an fp32 stage graph.
        ranges: tensor name -> (lowest, highest) activation range, from `calibrate`.
    """
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, TensorsData,
                                          quantize_static, save_tensors_data)

    data = TensorsData(CalibrationMethod.MinMax,
                       {name: (np.float32(lo), np.float32(hi)) for name, (lo, hi) in ranges.items()})
    with tempfile.TemporaryDirectory(prefix="dirnet-int8-") as tmp, _quiet_quantizer():
        source, target, table = (Path(tmp) / name for name in ("fp32.onnx", "int8.onnx", "ranges.json"))
        source.write_bytes(graph.model)
        save_tensors_data(data, table)
        quantize_static(source, target, calibration_data_reader=None, calibration_cache_path=table,
                        quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        nodes_to_quantize=_quantized_nodes(graph))
        return StageGraph(graph.name, graph.inputs, graph.outputs, target.read_bytes())


@dataclass(frozen=True)
class Int8Plan:
    """Which stages of one set of weights run in int8, and the ranges that quantise them.

    stages: stage kinds run in int8 (a subset of STAGE_KINDS).
    ranges: graph name -> tensor name -> (lowest, highest), for every graph of those stages.
    weights: `weights_digest` of the model the ranges were calibrated for.
    notes: how the plan was chosen (calibration data, per-stage timings, accuracy), for people.
    """

    stages: tuple[str, ...]
    ranges: dict[str, dict[str, tuple[float, float]]]
    weights: str
    notes: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.stages) - set(STAGE_KINDS)
        if unknown:
            raise ValueError(f"unknown int8 stages {sorted(unknown)}, known: {list(STAGE_KINDS)}")

    def digest(self) -> str:
        """Hex digest of what the quantised graphs depend on (stages, ranges, weights)."""
        text = json.dumps([self.stages, self.ranges, self.weights], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()

    def apply(self, graphs: Sequence[StageGraph]) -> list[StageGraph]:
        """`graphs` with every graph of `stages` quantised (the others returned as they are).

        Raises:
            ValueError: a graph of a chosen stage has no ranges.
        """
        out = []
        for graph in graphs:
            if stage_kind(graph.name) in self.stages:
                if graph.name not in self.ranges:
                    raise ValueError(f"int8 plan has no calibration ranges for graph {graph.name!r}")
                graph = quantize_graph(graph, self.ranges[graph.name])
            out.append(graph)
        return out

    def check(self, model) -> None:
        """Raise ValueError unless the plan was calibrated for `model`'s weights."""
        if weights_digest(model) != self.weights:
            raise ValueError("int8 plan was calibrated for other weights; run "
                             "`python -m dirnet.runtime.calibrate` for these")

    def save(self, path: str | os.PathLike) -> Path:
        """Write the plan as JSON (atomically)."""
        return write_text_atomic(path, json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Int8Plan":
        """Read a plan written by `save`.

        Raises:
            FileNotFoundError: no such file.
            ValueError: not a readable plan.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            ranges = {g: {t: (float(lo), float(hi)) for t, (lo, hi) in r.items()}
                      for g, r in data["ranges"].items()}
            return cls(tuple(data["stages"]), ranges, str(data["weights"]), dict(data.get("notes", {})))
        except FileNotFoundError:
            raise
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a readable int8 plan ({exc})") from None


def plan_path(weights: str | os.PathLike) -> Path:
    """Where the int8 plan of a checkpoint lives: `<stem>.int8.json` beside its .safetensors."""
    tensors = checkpoint_paths(weights)[0]
    return tensors.with_name(tensors.name[:-len(".safetensors")] + ".int8.json")


def load_plan(precision: str, weights: str | os.PathLike | None, model) -> Int8Plan | None:
    """The Int8Plan a precision setting asks for.

    Args:
        precision: "fp32" (None), "int8" (the weights' plan, required) or "auto" (the weights'
            plan when one was made for exactly these weights, else None).
        weights: the checkpoint the model was loaded from (None: an untrained model, no plan).
        model: the DIRNet loaded from it.
    Raises:
        ValueError: unknown precision, or "int8" without a readable plan for these weights.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "fp32":
        return None
    path = None if weights is None else plan_path(weights)
    if path is None or not path.is_file():
        if precision == "int8":
            raise ValueError(f"no int8 plan {path or 'for an untrained model'}: make one with "
                             "`python -m dirnet.runtime.calibrate --weights W`")
        return None
    plan = Int8Plan.load(path)
    if precision == "auto" and weights_digest(model) != plan.weights:
        return None  # the plan is of older weights: fp32 until it is remade
    plan.check(model)
    return plan
