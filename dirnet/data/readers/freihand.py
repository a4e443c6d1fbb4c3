"""FreiHAND (Zimmermann et al., ICCV 2019), as released (FreiHAND_pub_v2).

On disk:
    ROOT/training_xyz.json   list of N (21, 3) joints, metres, camera frame
    ROOT/training_K.json     list of N (3, 3) intrinsics
    ROOT/training/rgb/%08d.jpg  224x224 RGB; image id + v*N is version v of sample id
                             (v = 0 green screen, 1 homogenized, 2 sample, 3 auto colourised)
    ROOT/evaluation_xyz.json, evaluation_K.json, evaluation/rgb/%08d.jpg (one version)
The joint order is already ours (wrist; thumb..pinky, base to tip); every hand is a right hand.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import numpy as np

from dirnet.data.readers.sample import HandSample, project, require_file

__all__ = ["read_freihand", "FREIHAND_VERSIONS"]

FREIHAND_VERSIONS = ("gs", "hom", "sample", "auto")


def read_freihand(root: str | Path, split: str = "training",
                  versions: tuple[str, ...] = FREIHAND_VERSIONS) -> Iterator[HandSample]:
    """Yield FreiHAND samples with exact 2D (projected) and 3D labels.

    Args:
        root: folder holding `<split>_xyz.json`, `<split>_K.json` and `<split>/rgb/`.
        split: "training" or "evaluation".
        versions: which of the training images' colourisations to yield (ignored for
            "evaluation", which has only "gs").

    Yields:
        HandSample per image: joints3d mm (camera frame), joints2d px of the 224 px image, K.

    Raises:
        ValueError: unknown split/version, or xyz and K lists of different lengths.
        FileNotFoundError: a missing label file.
    """
    if split not in ("training", "evaluation"):
        raise ValueError(f"split must be 'training' or 'evaluation', got {split!r}")
    unknown = set(versions) - set(FREIHAND_VERSIONS)
    if unknown:
        raise ValueError(f"unknown FreiHAND versions {sorted(unknown)}; known: {FREIHAND_VERSIONS}")
    if split == "evaluation":
        versions = ("gs",)  # the only images released for it
    root = Path(root)
    xyz = np.asarray(json.loads(require_file(root / f"{split}_xyz.json").read_text()), np.float64)
    Ks = np.asarray(json.loads(require_file(root / f"{split}_K.json").read_text()), np.float64)
    if len(xyz) != len(Ks):
        raise ValueError(f"{split}_xyz.json has {len(xyz)} entries but {split}_K.json {len(Ks)}")
    count = len(xyz)
    for version in versions:
        offset = FREIHAND_VERSIONS.index(version) * count
        for i in range(count):
            yield HandSample(
                image_path=root / split / "rgb" / f"{i + offset:08d}.jpg",
                joints2d=project(xyz[i], Ks[i]), joints3d=xyz[i] * 1000.0,
                handedness="right", K=Ks[i])
