"""Hand models: the shipped open (MakeHuman CC0) hand and optional official MANO, one interface.

Public names load lazily (PEP 562), as in `dirnet/__init__.py`: `dirnet.hand.skeleton` is plain
numpy and the app's window imports it; importing torch with it would delay the window by seconds.
"""
from __future__ import annotations

import importlib
import os

__all__ = [
    "HandModel", "HandMeshOutput", "PosedJoints", "NUM_POSE_JOINTS", "OpenHandLayer", "ManoHandLayer",
    "SHAPE_NAMES", "GESTURES", "gesture_angles", "create_hand_model", "HAND_MODELS",
]

HAND_MODELS: tuple[str, ...] = ("open", "mano")

_EXPORTS = {
    "HandModel": "base", "HandMeshOutput": "base", "PosedJoints": "base", "NUM_POSE_JOINTS": "base",
    "ManoHandLayer": "mano", "MANO_PATH_ENV": "mano", "OpenHandLayer": "open_hand",
    "SHAPE_NAMES": "open_hand", "GESTURES": "poses", "gesture_angles": "poses",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'dirnet.hand' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


def create_hand_model(name: str = "open", mano_path: str | None = None):
    """Build a hand model by name.

    Args:
        name: "open" (shipped MakeHuman hand) or "mano" (needs the user's MANO_RIGHT.pkl).
        mano_path: MANO_RIGHT.pkl, or a folder holding it; default: the DIRNET_MANO_PATH variable.

    Returns:
        The hand model (a `HandModel`), on the CPU.

    Raises:
        ValueError: unknown name, or a MANO file that is not MANO's right hand.
        FileNotFoundError: "mano" without a file (neither `mano_path` nor DIRNET_MANO_PATH), or a
            path that does not exist.
    """
    if name == "open":
        from .open_hand import OpenHandLayer
        return OpenHandLayer()
    if name == "mano":
        from .mano import MANO_PATH_ENV, ManoHandLayer
        path = mano_path or os.environ.get(MANO_PATH_ENV)
        if not path:
            raise FileNotFoundError(
                f"the MANO hand model needs MANO_RIGHT.pkl (licence-gated, from https://mano.is.tue.mpg.de): "
                f"pass its path or set {MANO_PATH_ENV}")
        return ManoHandLayer(path)
    raise ValueError(f"unknown hand model {name!r}, known: {list(HAND_MODELS)}")
