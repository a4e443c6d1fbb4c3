"""Readers for labelled hand datasets in their released on-disk formats.

Every reader yields `HandSample`s in our conventions (MediaPipe joint order, mm, camera axes, px of
the named image, true handedness), so the training data layer never sees a dataset's own layout.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from dirnet.data.readers.fpha import read_fpha
from dirnet.data.readers.freihand import read_freihand
from dirnet.data.readers.panoptic import read_panoptic
from dirnet.data.readers.rhd import read_rhd
from dirnet.data.readers.sample import HANDEDNESS, HandSample, project
from dirnet.data.readers.stb import read_stb
from dirnet.data.readers.synth_dir import read_synth_dir
from dirnet.data.readers.teacher_index import read_teacher_index

__all__ = ["HandSample", "HANDEDNESS", "project", "READERS", "read_samples", "read_freihand",
           "read_stb", "read_rhd", "read_fpha", "read_panoptic", "read_teacher_index", "read_synth_dir"]

# Name -> reader; each takes the dataset's root folder first, then its own keyword options.
READERS: dict[str, Callable[..., Iterable[HandSample]]] = {
    "freihand": read_freihand,
    "stb": read_stb,
    "rhd": read_rhd,
    "fpha": read_fpha,
    "panoptic": read_panoptic,
    "teacher": read_teacher_index,
    "synth_dir": read_synth_dir,
}


def read_samples(name: str, root: str | Path, **options) -> list[HandSample]:
    """All samples of a dataset by reader name.

    Raises:
        ValueError: unknown reader name (lists the known ones).
    """
    if name not in READERS:
        raise ValueError(f"unknown dataset {name!r}, known: {sorted(READERS)}")
    return list(READERS[name](root, **options))
