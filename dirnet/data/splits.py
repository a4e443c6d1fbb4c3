"""Data splits: the train/val share of every folder source, and the held-out handshapes of the
class-named folders no model may train on.

`split_samples` holds out a fixed share of a folder's files by a hash of their names (training's
validation set, evaluation's `:val`).

Two folders of `../shared/data/hand_photos` name each photo's handshape: `sign_digits`
(`<digit>__IMG_....jpg`) and `asl_letters` (`<split>__<letter><n>_jpg...`). Half of each folder's
classes are held out, so the generalisation benchmark can score poses a model never saw
(memorising a handshape cannot pass). Every other folder has no held-out poses.
"""
from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

__all__ = ["split_samples", "POSE_SPLITS", "HELD_OUT_CLASSES", "VIEWS", "pose_class", "is_held_out_pose",
           "select_poses", "hand_view", "select_views"]

POSE_SPLITS = ("seen", "unseen")
VIEWS = ("palm", "back")

# Folder name -> pattern whose group(1) is the photo's class.
_CLASS_PATTERNS = {
    "sign_digits": re.compile(r"^(\d)__"),
    "asl_letters": re.compile(r"^[a-z]+__([A-Z])\d"),
}
# Digits 5-9 and every second letter: shapes unlike the kept ones (5 spreads all fingers, 0-4 count).
HELD_OUT_CLASSES = {
    "sign_digits": frozenset("56789"),
    "asl_letters": frozenset("BDFHJLNPRTVXZ"),
}


def pose_class(source: str | Path) -> tuple[str, str] | None:
    """(folder, class) of a source photo of a class-named folder, else None.

    Args:
        source: path of the photo (its parent folder's name and file name are read).
    """
    path = Path(source)
    pattern = _CLASS_PATTERNS.get(path.parent.name)
    match = pattern.match(path.name) if pattern else None
    return (path.parent.name, match.group(1)) if match else None


def is_held_out_pose(source: str | Path) -> bool:
    """True when the photo shows one of its folder's held-out handshapes."""
    found = pose_class(source)
    return found is not None and found[1] in HELD_OUT_CLASSES[found[0]]


def select_poses(samples: list, poses: str) -> list:
    """The samples whose photo's handshape is kept for training ("seen"), held out ("unseen"),
    or all of them (""). A sample's photo is its `source` when set (teacher crops), else its image."""
    if not poses:
        return list(samples)
    keep_unseen = poses == "unseen"
    return [s for s in samples
            if is_held_out_pose(s.source if s.source is not None else s.image_path) == keep_unseen]


def split_samples(samples, val_fraction: float):
    """(train, val) by a hash of each image's path relative to the working directory, so the split
    never changes between runs (started from the repo root) however the dataset path is spelled."""
    def is_val(sample) -> bool:
        key = os.path.relpath(os.path.abspath(sample.image_path))
        digest = hashlib.sha1(key.encode()).digest()
        return int.from_bytes(digest[:4], "little") / 2**32 < val_fraction
    train = [s for s in samples if not is_val(s)]
    val = [s for s in samples if is_val(s)]
    return train, val


def hand_view(joints2d: np.ndarray, handedness: str) -> str:
    """"palm" when the palm faces the camera, else "back", from the 2D joints alone.

    The turn wrist -> index MCP -> little-finger MCP runs one way in the image for a right palm
    and the other way for a right back (mirrored for a left hand). Edge-on hands fall on either side.

    Args:
        joints2d: (21, 2) image px, y down, MediaPipe joint order.
        handedness: "left" or "right", the person's true hand.
    """
    index, little = joints2d[5] - joints2d[0], joints2d[17] - joints2d[0]
    turn = float(index[0] * little[1] - index[1] * little[0])
    return "back" if (turn > 0) == (handedness == "right") else "palm"


def select_views(samples: list, view: str) -> list:
    """The samples that show the palm ("palm"), the back of the hand ("back"), or all of them ("");
    samples without 2D joints are dropped by a view filter."""
    if not view:
        return list(samples)
    return [s for s in samples if s.joints2d is not None and hand_view(s.joints2d, s.handedness) == view]
