"""Reader for folders written by `python -m dirnet.data.synth --out DIR` (images/, labels.npz)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from dirnet.data.readers.sample import HandSample, require_file

__all__ = ["read_synth_dir"]


def read_synth_dir(root: str | Path) -> list[HandSample]:
    """One HandSample per render: exact 2D (crop px), 3D (mm, camera frame), visibility and K.

    Raises:
        FileNotFoundError: no labels.npz (not a dirnet.data.synth folder).
    """
    root = Path(root)
    path = require_file(root / "labels.npz")
    with np.load(path) as labels:
        rows = zip(labels["joints2d"], labels["joints3d"], labels["visibility"], labels["K"], labels["is_left"])
        return [HandSample(root / "images" / f"{i:06d}.jpg", j2d, j3d, "left" if left else "right", vis, k)
                for i, (j2d, j3d, vis, k, left) in enumerate(rows)]
