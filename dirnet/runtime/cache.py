"""A disk cache of the fast path's ONNX graphs, so a start-up does not re-export unchanged weights.

Exporting the stages costs about a second at every start of the app on a 2-core CPU (most of it
importing `torch.onnx` and tracing); reading the cached graphs takes a few milliseconds. An entry
is keyed by everything the graphs depend on: the model's weights and buffers, its config, the
exporter (torch version, opset) and the source of the code that defines and folds the stages, so
a hit needs neither the export nor the folding. The int8 graphs of an Int8Plan are cached the same
way (quantising them takes seconds), keyed by the fp32 entry's key, the plan and the quantiser's
version. A stale or unreadable entry is rebuilt, never trusted.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..io import atomic_write
from ..models.dirnet import DIRNet
from .onnx import OPSET, StageGraph, stage_graphs
from .quantize import Int8Plan, weights_digest

__all__ = ["DEFAULT_CACHE", "cache_key", "cached_stage_graphs"]

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dirnet" / "fast_path"

_KEEP = 6  # entries kept per cache folder (each about the size of the weights): fp32 and int8 of 3
_CODE = Path(__file__).resolve().parents[1]
_CODE_FILES = sorted([*(_CODE / "models").glob("*.py"), *(_CODE / "hand").glob("*.py"),
                      *(_CODE / "runtime").glob("*.py")])


def cache_key(model: DIRNet) -> str:
    """Hex digest naming the graphs `stage_graphs(model)` would export."""
    digest = hashlib.sha256(f"{OPSET}|{torch.__version__}|{model.cfg!r}|{weights_digest(model)}".encode())
    for path in _CODE_FILES:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cached_stage_graphs(model: DIRNet, cache_dir: str | os.PathLike,
                        plan: Int8Plan | None = None) -> tuple[list[StageGraph], bool]:
    """`stage_graphs(model)`, or `plan.apply` of them, read from `cache_dir` when made before.

    Args:
        model: the DIRNet whose stages to export (folded on a miss).
        cache_dir: folder of cache entries (created when missing).
        plan: quantise its stages to int8 (the fp32 graphs it starts from are cached too).
    Returns:
        (graphs, hit): hit is True when they came from the cache.
    """
    key = cache_key(model)
    if plan is None:
        return _cached(Path(cache_dir) / f"stages-{key[:24]}.npz", lambda: stage_graphs(model))
    import onnxruntime  # the quantiser's version shapes the int8 graphs

    key = hashlib.sha256(f"{key}|{plan.digest()}|{onnxruntime.__version__}".encode()).hexdigest()
    return _cached(Path(cache_dir) / f"stages-{key[:24]}.npz",
                   lambda: plan.apply(cached_stage_graphs(model, cache_dir)[0]))


def _cached(path: Path, build: Callable[[], list[StageGraph]]) -> tuple[list[StageGraph], bool]:
    """The graphs stored at `path`, else `build()` stored there; (graphs, hit)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            manifest = json.loads(str(data["manifest"]))
            graphs = [StageGraph(m["name"], tuple(m["inputs"]), tuple(m["outputs"]), data[m["name"]].tobytes())
                      for m in manifest]
        return graphs, True
    except (OSError, ValueError, KeyError):  # absent, truncated or from another format: rebuild
        pass
    graphs = build()
    manifest = json.dumps([{"name": g.name, "inputs": g.inputs, "outputs": g.outputs} for g in graphs])
    arrays = {g.name: np.frombuffer(g.model, np.uint8) for g in graphs}
    try:
        atomic_write(path, lambda tmp: np.savez(tmp, manifest=np.array(manifest), **arrays))
        for old in sorted(path.parent.glob("stages-*.npz"), key=lambda p: p.stat().st_mtime)[:-_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache only costs the export at the next start
    return graphs, False
