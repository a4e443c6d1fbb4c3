"""DIR-Net: dynamic iterative refinement for efficient 3D hand pose estimation (no Qt in here).

Public names load lazily (PEP 562) so `import dirnet.hand` or `dirnet.crop` stays light.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Estimator": "estimator", "EstimatorDefaults": "estimator", "ExitPolicy": "exits",
    "HandPose": "pose", "LoopTrace": "pose", "DIRNetConfig": "config", "TrainConfig": "config",
    "DIRNet": "models", "create_model": "models", "HandJoint": "hand.skeleton",
    "HAND_CONNECTIONS": "hand.skeleton",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dirnet' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
