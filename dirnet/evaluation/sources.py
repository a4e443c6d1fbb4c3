"""Labelled evaluation sources for `dirnet.evaluation.report` and `dirnet.training.gate`: data specs, readers,
and videos with reference landmarks, each cut into hand crops around the labelled joints.

SPEC syntax (see `python -m dirnet.evaluation --help`): `synth:DIR`, `teacher:DIR`, `NAME:DIR` for a
public dataset reader, an optional `:seen` / `:unseen` handshape split (dirnet.data.splits) and an
optional `:val[=F]` / `:train[=F]` share, or `video:CLIP:REF2D[:REF3D][:left|right]`.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..config import TrainConfig
from ..crop import DEFAULT_MARGIN, box_from_points, crop_matrix, invert_affine, warp
from ..data.splits import POSE_SPLITS, select_poses, split_samples
from ..hand.skeleton import NUM_JOINTS
from ..image_io import read_rgb
from .metrics import root_relative

__all__ = ["DataSpec", "EvalBatch", "EvalSource", "parse_spec", "open_source", "SAMPLE_KINDS"]

log = logging.getLogger(__name__)

# Sources whose samples are HandSamples read from a folder (dirnet.data.readers), by spec kind.
SAMPLE_KINDS = ("synth", "teacher", "freihand", "stb", "rhd", "fpha", "panoptic")
# Frames of a video at which MediaPipe's classifier is asked for the handedness (majority vote).
_HANDEDNESS_VOTES = 5


@dataclass(frozen=True)
class DataSpec:
    """A parsed --data SPEC: kind, folder or clip path, and for videos the reference files and hand."""

    kind: str
    path: Path
    ref2d: Path | None = None
    ref3d: Path | None = None
    hand: str | None = None
    split: str | None = None  # "train" or "val": one share of a folder source, as dirnet.training.loop splits it
    val_fraction: float = TrainConfig.val_fraction
    poses: str = ""  # "seen" / "unseen": only the photos of kept / held-out handshapes (dirnet.data.splits)

    @property
    def name(self) -> str:
        """Short file-name-safe label, e.g. "teacher_crops_val" or "video_asl_hand.25fps"."""
        stem = self.path.stem if self.kind == "video" else self.path.resolve().name
        stem += f"_{self.poses}" if self.poses else ""
        stem += f"_{self.split}" if self.split else ""
        return f"{self.kind}_" + "".join(c if c.isalnum() or c in "._-" else "_" for c in stem)


def parse_spec(text: str) -> DataSpec:
    """Parse KIND:PATH[:seen|:unseen][:val[=F]|:train[=F]] or video:CLIP:REF2D[:REF3D][:left|right].

    Raises:
        ValueError: unknown kind or malformed spec.
    """
    kind, sep, rest = text.partition(":")
    if not sep or not rest:
        raise ValueError(f"data spec {text!r} is not KIND:PATH")
    if kind == "video":
        parts = rest.split(":")
        hand = parts.pop() if parts[-1] in ("left", "right") else None
        if len(parts) not in (2, 3):
            raise ValueError(f"video spec {text!r} is not video:CLIP:REF2D[:REF3D][:left|right]")
        return DataSpec("video", Path(parts[0]), Path(parts[1]),
                        Path(parts[2]) if len(parts) == 3 else None, hand)
    if kind not in SAMPLE_KINDS:
        raise ValueError(f"unknown data kind {kind!r} in {text!r}, known: video, {', '.join(SAMPLE_KINDS)}")
    split, value, poses = None, TrainConfig.val_fraction, ""
    path, _, last = rest.rpartition(":")
    name, _, fraction = last.partition("=")
    if path and name in ("train", "val"):
        try:
            value = float(fraction) if fraction else TrainConfig.val_fraction
        except ValueError:
            raise ValueError(f"bad split fraction {fraction!r} in {text!r}") from None
        if not 0.0 < value < 1.0:
            raise ValueError(f"split fraction must be in (0, 1), got {value} in {text!r}")
        split, rest = name, path
        path, _, last = rest.rpartition(":")
    if path and last in POSE_SPLITS:
        poses, rest = last, path
    return DataSpec(kind, Path(rest), split=split, val_fraction=value, poses=poses)


@dataclass
class EvalBatch:
    """Network inputs and labels of a batch of B samples.

    images: (B, R, R, 3) uint8 RGB network input (left hands mirrored in). to_source: (B, 2, 3)
    affines from network-input px to source-image px. left: (B,) bool. gt2d: (B, 21, 2) source px,
    NaN where unlabelled. gt3d: (B, 21, 3) mm wrist-relative, camera axes, NaN where unlabelled.
    crop256: (B,) 256 / crop side in source px (source px -> crop-256 px).
    """

    images: np.ndarray
    to_source: np.ndarray
    left: np.ndarray
    gt2d: np.ndarray
    gt3d: np.ndarray
    crop256: np.ndarray


class EvalSource:
    """The labelled hands of one spec, cropped for one network resolution and served in batches.

    Args:
        name: label of the source.
        length: number of hands it will try to serve.
        items: callable returning an iterator of (rgb image, joints2d (21, 2) source px,
            joints3d (21, 3) mm or None, is_left); an unreadable image is reported as a string.
        res: network input side in px.
    Attributes:
        problems: one line per item that could not be used (filled while iterating).
    """

    def __init__(self, name: str, length: int, items, res: int):
        self.name, self._length, self._items, self.res = name, length, items, res
        self.problems: list[str] = []

    def __len__(self) -> int:
        return self._length

    def batches(self, batch_size: int):
        """Yield EvalBatches of up to batch_size samples, in order."""
        rows: list[tuple] = []
        for number, item in enumerate(self._items()):
            if isinstance(item, str):  # the reader's own report of an unusable item
                self.problems.append(item)
                continue
            try:
                rows.append(self._prepare(*item))
            except ValueError as exc:  # e.g. no finite 2D joint to crop around
                self.problems.append(f"hand {number}: {exc}, skipped")
                continue
            if len(rows) == batch_size:
                yield EvalBatch(*(np.stack(col) for col in zip(*rows)))
                rows = []
        if rows:
            yield EvalBatch(*(np.stack(col) for col in zip(*rows)))

    def _prepare(self, image: np.ndarray, joints2d: np.ndarray, joints3d: np.ndarray | None,
                 left: bool) -> tuple:
        # Crop the way the tracker does, around the hand's 2D joints (the evaluation's "GT box").
        box = box_from_points(joints2d, DEFAULT_MARGIN)
        matrix = crop_matrix(box, self.res, mirror=left)
        gt3d = (np.full((NUM_JOINTS, 3), np.nan) if joints3d is None
                else root_relative(np.asarray(joints3d, dtype=np.float64)))
        return (warp(image, matrix, self.res), invert_affine(matrix), bool(left),
                np.asarray(joints2d, dtype=np.float64), gt3d, 256.0 / box.size)


def _sample_source(spec: DataSpec, res: int, limit: int | None) -> EvalSource:
    from ..data.readers import project, read_samples

    samples = select_poses(read_samples("synth_dir" if spec.kind == "synth" else spec.kind, spec.path),
                           spec.poses)
    if spec.split:
        train, val = split_samples(samples, spec.val_fraction)
        samples = train if spec.split == "train" else val
    usable = [s for s in samples if s.joints2d is not None or (s.joints3d is not None and s.K is not None)]
    if not usable:
        raise ValueError(f"{spec.path}: no sample with 2D joints (or 3D joints and intrinsics)")
    usable = usable[:limit]

    def items():
        for s in usable:
            try:
                image = read_rgb(s.image_path)
            except (OSError, ValueError):
                yield f"{s.image_path}: not a readable image, skipped"
                continue
            joints2d = s.joints2d if s.joints2d is not None else project(s.joints3d, s.K)
            yield image, joints2d, s.joints3d, s.handedness == "left"

    return EvalSource(spec.name, len(usable), items, res)


def _read_reference(path: Path, scale: float) -> np.ndarray:
    """(F, 21, 3) float64 from a JSON list of per-frame landmark lists; NaN for frames without one."""
    try:
        frames = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"reference landmarks {path} not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"reference landmarks {path} are not valid JSON: {exc}") from None
    out = np.full((len(frames), NUM_JOINTS, 3), np.nan)
    for i, frame in enumerate(frames):
        points = np.asarray(frame if frame else [], dtype=np.float64)
        if points.ndim == 2 and points.shape[0] == NUM_JOINTS and points.shape[1] >= 2:
            out[i, :, :points.shape[1]] = points[:, :3] * scale
    return out


def _video_frames(path: Path):
    """Yield (index, RGB frame) of a video; stops at the end or at the first undecodable frame."""
    capture = cv2.VideoCapture(str(path))
    try:
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                return
            yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
    finally:
        capture.release()


def _vote_handedness(path: Path, ref2d: np.ndarray, frames: np.ndarray) -> str:
    """Majority of MediaPipe's handedness labels on crops around the reference hand."""
    from ..handedness import HandednessClassifier

    chosen = set(frames[np.linspace(0, len(frames) - 1, _HANDEDNESS_VOTES).round().astype(int)])
    classifier = HandednessClassifier()
    votes = []
    try:
        for index, rgb in _video_frames(path):
            if index in chosen:
                box = box_from_points(ref2d[index], 2 * DEFAULT_MARGIN)
                votes.append(classifier(warp(rgb, crop_matrix(box, 256), 256)))
    finally:
        classifier.close()
    hand = "left" if votes.count("left") > votes.count("right") else "right"
    log.warning("%s: MediaPipe calls the hand %s (%d of %d frames); pass :left or :right to override",
                path.name, hand, votes.count(hand), len(votes))
    return hand


def _video_source(spec: DataSpec, res: int, limit: int | None) -> EvalSource:
    if not spec.path.is_file():
        raise FileNotFoundError(f"video {spec.path} not found")
    ref2d = _read_reference(spec.ref2d, 1.0)[..., :2]
    ref3d = None if spec.ref3d is None else _read_reference(spec.ref3d, 1000.0)  # metres -> mm
    if ref3d is not None and len(ref3d) != len(ref2d):
        raise ValueError(f"{spec.ref2d.name} has {len(ref2d)} frames but {spec.ref3d.name} {len(ref3d)}")
    frames = np.flatnonzero(np.isfinite(ref2d).all((1, 2)))[:limit]
    if not frames.size:
        raise ValueError(f"{spec.ref2d}: no frame with 21 reference landmarks")
    left = (spec.hand or _vote_handedness(spec.path, ref2d, frames)) == "left"
    wanted = set(frames.tolist())

    def items():
        seen = 0
        for index, rgb in _video_frames(spec.path):
            if index in wanted:
                seen += 1
                yield rgb, ref2d[index], None if ref3d is None else ref3d[index], left
        if seen < len(wanted):
            yield f"{spec.path.name}: {len(wanted) - seen} frames with references could not be decoded"

    return EvalSource(spec.name, len(frames), items, res)


def open_source(spec: DataSpec, res: int, limit: int | None = None) -> EvalSource:
    """The EvalSource of a spec for a network of input side `res`.

    Raises:
        FileNotFoundError: missing folder, clip or reference file.
        ValueError: malformed or empty data.
    """
    if spec.kind == "video":
        return _video_source(spec, res, limit)
    if not spec.path.exists():
        raise FileNotFoundError(f"{spec.kind} data {spec.path} not found")
    return _sample_source(spec, res, limit)
