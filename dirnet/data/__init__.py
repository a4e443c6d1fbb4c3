"""Data engine: MediaPipe-teacher labels, dataset readers and the training data layer.

Names are imported on first use (PEP 562), so `python -m dirnet.data.teacher` or the synthetic
renderer do not pay for torch/readers they do not need.
"""
from __future__ import annotations

import importlib

__all__ = ["HandCropDataset", "TensorHandDataset", "MixedDataset", "make_loader", "AugmentConfig", "NO_AUGMENT",
           "HandSample", "READERS", "read_samples"]

_HOME = {
    **dict.fromkeys(["HandCropDataset", "TensorHandDataset", "MixedDataset", "make_loader"],
                    "dirnet.data.dataset"),
    **dict.fromkeys(["AugmentConfig", "NO_AUGMENT"], "dirnet.data.augment"),
    **dict.fromkeys(["HandSample", "READERS", "read_samples"], "dirnet.data.readers"),
}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'dirnet.data' has no attribute {name!r}")
    return getattr(importlib.import_module(_HOME[name]), name)
