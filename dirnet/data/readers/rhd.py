"""RHD, the Rendered Hand pose Dataset (Zimmermann & Brox, ICCV 2017), RHD_published_v2.

On disk:
    ROOT/training/anno_training.pickle     {sample_id: {'xyz': (42, 3) m, 'uv_vis': (42, 3), 'K': (3, 3)}}
    ROOT/training/color/%05d.png           320x320 RGB   (and evaluation/ the same way)
Keypoints 0-20 are the left hand, 21-41 the right; within a hand: wrist, then thumb, index,
middle, ring, pinky, each from TIP to base. uv_vis holds u, v (px) and a visibility flag (1 = visible).
xyz is in the camera frame (x right, y down, z away), metres.

The annotation file is a (Python 2) pickle; it is read with an unpickler that only builds numpy
arrays and plain containers, so a tampered file cannot run code.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Iterator

import numpy as np

from dirnet.data.readers.sample import HandSample, reorder, require_file

__all__ = ["read_rhd", "load_rhd_annotations", "RHD_TO_OURS"]

# Entry i: index (within one hand's 21) of our joint i; RHD lists each finger tip first.
RHD_TO_OURS = (0, 4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13, 20, 19, 18, 17)

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("_codecs", "encode"),  # how Python 3 writes bytes into protocol-2 pickles; only encodes text
    *(("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "int",
                                      "float", "complex", "bool", "str", "bytes", "bytearray")),
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only numpy array reconstruction and builtin containers/scalars."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from an annotation file")
        return super().find_class(module, name)


def load_rhd_annotations(path: str | Path) -> dict:
    """RHD's anno_*.pickle as a dict, loaded with the numpy-only unpickler.

    Raises:
        FileNotFoundError: missing file.
        pickle.UnpicklingError: the file refers to anything but numpy arrays and builtins.
    """
    with open(require_file(Path(path)), "rb") as file:
        # latin1: the file was written by Python 2, whose numpy arrays pickle raw bytes as str.
        return _NumpyOnlyUnpickler(file, encoding="latin1").load()


def read_rhd(root: str | Path, split: str = "training", min_visible: int = 10
             ) -> Iterator[HandSample]:
    """Yield each sufficiently visible hand of each RHD image.

    Args:
        root: the RHD_published_v2 folder.
        split: "training" or "evaluation".
        min_visible: a hand is yielded when at least this many of its 21 keypoints are visible
            (most images show one hand well and the other barely or not at all).

    Raises:
        ValueError: unknown split.
        FileNotFoundError / pickle.UnpicklingError: see load_rhd_annotations.
    """
    if split not in ("training", "evaluation"):
        raise ValueError(f"split must be 'training' or 'evaluation', got {split!r}")
    folder = Path(root) / split
    annotations = load_rhd_annotations(folder / f"anno_{split}.pickle")
    for sample_id in sorted(annotations):
        anno = annotations[sample_id]
        xyz = np.asarray(anno["xyz"], np.float64) * 1000.0
        uv_vis = np.asarray(anno["uv_vis"], np.float64)
        for handedness, start in (("left", 0), ("right", 21)):
            visible = uv_vis[start:start + 21, 2] == 1
            if visible.sum() < min_visible:
                continue
            yield HandSample(
                image_path=folder / "color" / f"{sample_id:05d}.png",
                joints2d=reorder(uv_vis[start:start + 21, :2], RHD_TO_OURS),
                joints3d=reorder(xyz[start:start + 21], RHD_TO_OURS),
                handedness=handedness,
                visibility=reorder(visible[:, None], RHD_TO_OURS)[:, 0],
                K=anno["K"])
