"""DIR-Net: dynamic iterative refinement for efficient 3D hand pose estimation (no Qt in here).

Public names load lazily (PEP 562) so `import dirnet.hand` or `dirnet.crop` stays light. These
are what applications (app/ among them) use; everything else is the library's own.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    # the model and its results
    "Estimator": "estimator", "EstimatorDefaults": "estimator", "DEFAULT_WEIGHTS": "estimator",
    "ExitPolicy": "exits", "EXIT_MODES": "exits", "HandPose": "pose", "LoopTrace": "pose", "DIRNetConfig": "config",
    "TrainConfig": "config", "DIRNet": "models", "create_model": "models",
    "configure_threads": "runtime", "DEFAULT_CACHE": "runtime",
    # the hand skeleton
    "HandJoint": "hand.skeleton", "HAND_CONNECTIONS": "hand.skeleton", "FINGERS": "hand.skeleton",
    # square hand crops (frame px <-> crop px)
    "Box": "crop", "box_from_points": "crop", "crop_matrix": "crop", "warp": "crop",
    "transform_points": "crop", "DEFAULT_MARGIN": "crop",
    # images, files, MediaPipe and a demo video
    "IMAGE_SUFFIXES": "image_io", "UnreadableImage": "image_io", "read_rgb": "image_io",
    "write_text_atomic": "io", "MediaPipeHands": "mediapipe_hands", "DemoHand": "demo",
    "DEMO_GESTURES": "demo", "CYCLE_S": "demo",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dirnet' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
