"""CMU Panoptic hand keypoints, "hand_labels" sets (Simon et al., CVPR 2017).

On disk (hand_labels.zip / hand_labels_synth.zip):
    ROOT/{manual_train,manual_test,synth1,...}/NAME.json   {"hand_pts": 21 x [x, y, flag],
                                                             "is_left": 0|1, ...}
    ROOT/{...}/NAME.jpg                                     the image the points refer to
The joint order is OpenPose's, which is ours. flag 1 = annotated, 0 = not (its x, y are then
meaningless, so the reader sets them to NaN). 2D only: no 3D joints, no intrinsics. is_left names
the person's hand.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np

from dirnet.data.readers.sample import HandSample

__all__ = ["read_panoptic"]


def read_panoptic(folder: str | Path, min_visible: int = 6) -> Iterator[HandSample]:
    """Yield the labelled hands of one hand_labels folder (e.g. ROOT/manual_train).

    Args:
        folder: a folder of NAME.json + NAME.jpg pairs (searched non-recursively).
        min_visible: skip hands with fewer annotated points than this.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: a json file without a (21, 3) hand_pts (names the file).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"missing Panoptic hand_labels folder: {folder}")
    for label_path in sorted(folder.glob("*.json")):
        label = json.loads(label_path.read_text())
        points = np.asarray(label.get("hand_pts", []), np.float64)
        if points.shape != (21, 3):
            raise ValueError(f"{label_path}: hand_pts must be 21 x 3, got {points.shape}")
        visible = points[:, 2] == 1
        if visible.sum() < min_visible:
            continue
        joints2d = np.where(visible[:, None], points[:, :2], np.nan)  # unannotated: unknown
        yield HandSample(image_path=label_path.with_suffix(".jpg"), joints2d=joints2d,
                         joints3d=None, handedness="left" if label["is_left"] else "right",
                         visibility=visible)
