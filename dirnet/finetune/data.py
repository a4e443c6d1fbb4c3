"""What a fine-tune learns from: a user's recordings, videos and photo folders, labelled by
the MediaPipe teacher and split in time into the frames it trains on and a held-out slice.

A recording session folder of the app (docs/APP.md) stands for its `raw.mp4`, which holds every
captured frame. Crops are stored at the training data's size (dirnet.train_data) and written as
teacher datasets (`index.jsonl` files pointing at the crops), so the training and evaluation
readers take them unchanged.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2

from ..data.teacher import TeacherConfig, TeacherStats, find_inputs, run_teacher

__all__ = ["LabelledSplit", "TooFewFrames", "resolve_inputs", "count_items", "label_and_split",
           "time_split"]

STORE_RES = 160  # crop side: what dirnet.training.data keeps in memory and re-cuts from
_GAP_SHARE = 0.1  # frames dropped before each held-out slice, as a share of it: its first frames
                  # are near-copies of the frames just before it


class TooFewFrames(ValueError):
    """The inputs have too few frames with a confident hand to fine-tune on."""


@dataclass(frozen=True)
class LabelledSplit:
    """The teacher datasets of one fine-tune.

    train, val: folders with an `index.jsonl` each (crops in time order); val is the last stretch
    of every input. fit: every k-th training crop (at most `fit_limit`), for scoring the fit.
    stats: the teacher's counts; frames: frames with a confident hand, the hands in them, and
    the hands (crops) in each part.
    """

    train: Path
    val: Path
    fit: Path
    stats: TeacherStats
    frames: dict[str, int]


def resolve_inputs(paths: Sequence[Path]) -> list[Path]:
    """The media to label: a recording session folder becomes its raw.mp4; videos and image
    folders stay.

    Raises:
        ValueError: one line naming the first input that is missing or unusable.
    """
    media = []
    for path in paths:
        if path.is_dir() and (path / "raw.mp4").is_file():  # an app recording (docs/APP.md)
            path = path / "raw.mp4"
        _, _, problems = find_inputs([path])
        if problems:
            raise ValueError(problems[0])
        media.append(path)
    if not media:
        raise ValueError("no input given")
    return media


def count_items(media: Sequence[Path]) -> int:
    """Images and video frames the teacher will look at (0 where a video does not say)."""
    images, videos, _ = find_inputs(list(media))
    total = len(images)
    for video in videos:
        capture = cv2.VideoCapture(str(video))
        total += max(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), 0)
        capture.release()
    return total


def _natural(path: str) -> list:
    """Sort key that orders frame_9 before frame_10 (photo folders are frames in name order)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path)]


def time_split(records: Sequence[dict], val_fraction: float) -> tuple[list[dict], list[dict]]:
    """(train, val) teacher records of one input: in time order (frame number, else natural file
    name order), the last `val_fraction` is held out and a short gap before it dropped."""
    ordered = sorted(records, key=lambda r: (_natural(r["source"]), r["frame"] or 0))
    held = round(len(ordered) * val_fraction)
    gap = round(held * _GAP_SHARE)
    return ordered[:len(ordered) - held - gap], ordered[len(ordered) - held:]


def _write_index(records: Sequence[dict], folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = [json.dumps(r) for r in records]
    (folder / "index.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return folder


def label_and_split(media: Sequence[Path], work: Path, min_score: float, min_frames: int,
                    val_fraction: float, fit_limit: int, frame_step: int = 1,
                    tick: Callable[[], None] = lambda: None) -> LabelledSplit:
    """Label each of `media` with the teacher into `work`/labels/N and write the train/val/fit
    datasets (their records name the crops by absolute path).

    Args:
        media: from resolve_inputs.
        work: an empty folder for the labels and datasets.
        min_score: MediaPipe's detection and presence thresholds, and the handedness score a hand
            needs to be kept: frames without a confident hand are skipped.
        min_frames: the fewest confident hands worth fine-tuning on.
        val_fraction: share of each input held out at its end.
        fit_limit: most crops in the fit set.
        frame_step: label every n-th video frame.
        tick: called once per image or video frame looked at.
    Raises:
        TooFewFrames: fewer than min_frames confident hands (one line).
    """
    stats = TeacherStats()
    train, val, hands, frames = [], [], 0, 0
    for i, item in enumerate(media):  # one teacher run per input: each input gets its own slice
        labels = work / "labels" / str(i)
        config = TeacherConfig(inputs=[item], out=labels, res=STORE_RES, min_score=min_score,
                               frame_step=frame_step)
        try:
            counts = run_teacher(config, tick)
        except ValueError:  # no hand in this input: nothing was written for it
            continue
        for name in ("images", "frames", "crops", "no_hand", "unreadable", "bad_videos"):
            setattr(stats, name, getattr(stats, name) + getattr(counts, name))
        lines = (labels / "index.jsonl").read_text(encoding="utf-8").splitlines()
        records = [{**r, "file": str((labels / r["file"]).resolve())}
                   for r in map(json.loads, lines) if r["score"] >= min_score]
        hands += len(records)
        frames += len({(r["source"], r["frame"]) for r in records})  # a frame may show two hands
        part_train, part_val = time_split(records, val_fraction)
        train += part_train
        val += part_val
    if frames < min_frames:
        names = ", ".join(str(m) for m in media)
        raise TooFewFrames(f"only {frames} frames with a confident hand in {names} (need at least "
                           f"{min_frames}): record longer, with the hand in view")
    fit = train[::max(1, -(-len(train) // fit_limit))]
    return LabelledSplit(_write_index(train, work / "train"), _write_index(val, work / "val"),
                         _write_index(fit, work / "fit"), stats,
                         {"frames": frames, "hands": hands, "train": len(train), "val": len(val)})
