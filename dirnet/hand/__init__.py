"""Hand models: the shipped open (MakeHuman CC0) hand and optional official MANO, one interface."""
from __future__ import annotations

import os

from dirnet.hand.base import NUM_POSE_JOINTS, HandMeshOutput, HandModel
from dirnet.hand.mano import MANO_PATH_ENV, ManoHandLayer
from dirnet.hand.open_hand import SHAPE_NAMES, OpenHandLayer
from dirnet.hand.poses import GESTURES, gesture_angles

__all__ = [
    "HandModel", "HandMeshOutput", "NUM_POSE_JOINTS", "OpenHandLayer", "ManoHandLayer",
    "SHAPE_NAMES", "GESTURES", "gesture_angles", "create_hand_model", "HAND_MODELS",
]

HAND_MODELS: tuple[str, ...] = ("open", "mano")


def create_hand_model(name: str = "open", mano_path: str | None = None) -> HandModel:
    """Build a hand model by name.

    Args:
        name: "open" (shipped MakeHuman hand) or "mano" (needs the user's MANO_RIGHT.pkl).
        mano_path: MANO_RIGHT.pkl, or a folder holding it; default: the DIRNET_MANO_PATH variable.

    Returns:
        The hand model, on the CPU.

    Raises:
        ValueError: unknown name, or a MANO file that is not MANO's right hand.
        FileNotFoundError: "mano" without a file (neither `mano_path` nor DIRNET_MANO_PATH), or a
            path that does not exist.
    """
    if name == "open":
        return OpenHandLayer()
    if name == "mano":
        path = mano_path or os.environ.get(MANO_PATH_ENV)
        if not path:
            raise FileNotFoundError(
                f"the MANO hand model needs MANO_RIGHT.pkl (licence-gated, from https://mano.is.tue.mpg.de): "
                f"pass its path or set {MANO_PATH_ENV}")
        return ManoHandLayer(path)
    raise ValueError(f"unknown hand model {name!r}, known: {list(HAND_MODELS)}")
