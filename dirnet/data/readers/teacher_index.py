"""Reader for the MediaPipe-teacher datasets written by `python -m dirnet.data.teacher`."""
from __future__ import annotations

import json
from pathlib import Path

from dirnet.data.readers.sample import HandSample, require_file

__all__ = ["read_teacher_index"]


def read_teacher_index(root: str | Path, min_score: float = 0.0) -> list[HandSample]:
    """The crops of one teacher dataset as HandSamples.

    Args:
        root: the teacher's --out folder (holding index.jsonl and crops/), or index.jsonl itself.
        min_score: drop hands whose handedness score is below this.

    Returns:
        One sample per crop: joints2d in crop px, joints3d mm wrist-relative (camera axes),
        the true handedness; no visibility, no K.

    Raises:
        FileNotFoundError: no index.jsonl.
        ValueError: a malformed line (names the file and line number).
    """
    path = Path(root)
    index = require_file(path / "index.jsonl" if path.is_dir() else path)
    samples = []
    with open(index, encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            try:
                record = json.loads(line)
                if record["score"] < min_score:
                    continue
                samples.append(HandSample(image_path=index.parent / record["file"],
                                          joints2d=record["joints2d"], joints3d=record["joints3d"],
                                          handedness=record["handedness"],
                                          source=Path(record["source"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{index}:{number}: bad teacher record ({exc})") from exc
    return samples
