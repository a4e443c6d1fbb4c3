"""A disk cache of the fast path's ONNX graphs, so a start-up does not re-export unchanged weights.

Exporting the stages costs about a second at every start of the app on a 2-core CPU (most of it
importing `torch.onnx` and tracing); reading the cached graphs takes a few milliseconds. An entry
is keyed by everything the graphs depend on: the model's weights and buffers, its config, the
exporter (torch version, opset) and the source of the code that defines and folds the stages, so
a hit needs neither the export nor the folding. A stale or unreadable entry is rebuilt, never
trusted.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_write
from ..models.dirnet import DIRNet
from .onnx import OPSET, StageGraph, stage_graphs

__all__ = ["DEFAULT_CACHE", "cache_key", "cached_stage_graphs"]

DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dirnet" / "fast_path"

_KEEP = 4  # entries kept per cache folder (each is about the size of the weights)
_CODE = Path(__file__).resolve().parents[1]
_CODE_FILES = sorted([*(_CODE / "models").glob("*.py"), *(_CODE / "hand").glob("*.py"),
                      *(_CODE / "runtime").glob("*.py")])


def cache_key(model: DIRNet) -> str:
    """Hex digest naming the graphs `stage_graphs(model)` would export."""
    digest = hashlib.sha256(f"{OPSET}|{torch.__version__}|{model.cfg!r}".encode())
    for path in _CODE_FILES:
        digest.update(path.read_bytes())
    for name, tensor in model.state_dict().items():
        digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cached_stage_graphs(model: DIRNet, cache_dir: str | os.PathLike) -> tuple[list[StageGraph], bool]:
    """`stage_graphs(model)`, read from `cache_dir` when the same graphs were exported before.

    Args:
        model: the DIRNet whose stages to export (folded on a miss).
        cache_dir: folder of cache entries (created when missing).
    Returns:
        (graphs, hit): hit is True when they came from the cache.
    """
    path = Path(cache_dir) / f"stages-{cache_key(model)[:24]}.npz"
    try:
        with np.load(path, allow_pickle=False) as data:
            manifest = json.loads(str(data["manifest"]))
            graphs = [StageGraph(m["name"], tuple(m["inputs"]), tuple(m["outputs"]), data[m["name"]].tobytes())
                      for m in manifest]
        return graphs, True
    except (OSError, ValueError, KeyError):  # absent, truncated or from another format: rebuild
        pass
    graphs = stage_graphs(model)
    manifest = json.dumps([{"name": g.name, "inputs": g.inputs, "outputs": g.outputs} for g in graphs])
    arrays = {g.name: np.frombuffer(g.model, np.uint8) for g in graphs}
    try:
        atomic_write(path, lambda tmp: np.savez(tmp, manifest=np.array(manifest), **arrays))
        for old in sorted(path.parent.glob("stages-*.npz"), key=lambda p: p.stat().st_mtime)[:-_KEEP]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # a read-only cache only costs the export at the next start
    return graphs, False
