"""MediaPipe-teacher labels for real photos and videos: square hand crops + one JSONL index.

    python -m dirnet.data.teacher --images PATH [PATH ...] --out DIR [--res 224] [--min-score F]

PATH: a folder of images (searched recursively) or a video file. Photos run MediaPipe Hands 0.10.21
(model_complexity=1, max_num_hands=2) in static-image mode, each video in tracking mode. DIR gets
`crops/NNNNNN.jpg` (res x res RGB, not mirrored) and `index.jsonl`, one object per crop: file,
source, frame, handedness (the person's TRUE hand: MediaPipe assumes a selfie-mirrored image, so
its label is swapped unless --mirrored), score (handedness score), joints2d (21, 2) crop px,
joints3d (21, 3) mm world landmarks with the wrist at 0 (camera axes), box [cx, cy, size] source
px, res. The dataset is built in a hidden temporary folder beside DIR and renamed when complete.
Details and yields: docs/DATA.md.
"""
from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
from tqdm import tqdm

from dirnet.cli import configure_logging, fail
from dirnet.crop import DEFAULT_MARGIN, box_from_points, crop_matrix, transform_points, warp
from dirnet.image_io import IMAGE_SUFFIXES, read_rgb
from dirnet.io import publish_folder, temp_folder_beside
from dirnet.mediapipe_hands import MediaPipeHand, MediaPipeHands, quiet_native_stderr

__all__ = ["TeacherConfig", "TeacherStats", "MediaPipeTeacher", "find_inputs", "run_teacher", "main",
           "VIDEO_SUFFIXES"]

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = frozenset({".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v"})

# Palm detection misses hands that fill the frame; images smaller than this (longer side, px) are
# always padded, larger ones only retried padded when the first pass finds nothing. Padding each
# side by half the longer side found 52/52 hands on sampled 100 px sign_digits photos vs 41/52.
_PAD_BELOW = 256
# Two detections whose joints lie closer than this fraction of their box are one hand seen twice.
_DUPLICATE_FRACTION = 0.1


@dataclass
class TeacherConfig:
    """Settings of one teacher run (the CLI's arguments)."""

    inputs: list[Path]                # folders of images and/or video files
    out: Path                         # dataset folder to create
    res: int = 224                    # crop side, px
    min_score: float = 0.5            # palm-detection and hand-presence thresholds of MediaPipe
    margin: float = DEFAULT_MARGIN    # crop side / larger side of the landmarks' bounding box
    quality: int = 90                 # JPEG quality of the crops
    workers: int = 1                  # processes for photos (videos always run in order, in one)
    frame_step: int = 1               # label every n-th video frame
    mirrored: bool = False            # inputs are selfie-mirrored: keep MediaPipe's handedness
    overwrite: bool = False           # replace an existing DIR (only once the new one is complete)


@dataclass
class TeacherStats:
    """Counts of one run."""

    images: int = 0
    frames: int = 0
    crops: int = 0
    no_hand: int = 0
    unreadable: int = 0
    bad_videos: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.crops} crops from {self.images} images and {self.frames} video frames; "
                f"{self.no_hand} without a hand, {self.unreadable} unreadable, "
                f"{self.bad_videos} bad videos")


class MediaPipeTeacher:
    """MediaPipe Hands (dirnet.mediapipe_hands) with the teacher's padding and duplicate rules; a
    context manager.

    Args:
        video: tracking mode (landmarks of the previous frame seed the next) instead of static.
        min_score: min_detection_confidence and min_tracking_confidence.
        mirrored: inputs are mirrored like a selfie preview, so MediaPipe's label is the true hand.
    """

    def __init__(self, video: bool = False, min_score: float = 0.5, mirrored: bool = False):
        self._video = video
        self._mirrored = mirrored
        self._hands = MediaPipeHands(static=not video, max_hands=2, model_complexity=1,
                                     min_detection=min_score, min_tracking=min_score)

    def __enter__(self) -> "MediaPipeTeacher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._hands.close()

    def label(self, rgb: np.ndarray) -> list[MediaPipeHand]:
        """Hands in one RGB uint8 (H, W, 3) image (true handedness); empty list when there is none."""
        small = max(rgb.shape[:2]) < _PAD_BELOW
        hands = self._detect(rgb, pad=small)
        if not hands and not small and not self._video:
            hands = self._detect(rgb, pad=True)
        return hands

    def _detect(self, rgb: np.ndarray, pad: bool) -> list[MediaPipeHand]:
        offset = max(rgb.shape[:2]) // 2 if pad else 0
        return _drop_duplicates(self._hands.process(rgb, mirrored=self._mirrored, pad=offset))


def _drop_duplicates(hands: list[MediaPipeHand]) -> list[MediaPipeHand]:
    """Keep the higher-scored of two detections of the same hand."""
    kept: list[MediaPipeHand] = []
    for hand in sorted(hands, key=lambda h: -h.score):
        size = box_from_points(hand.joints2d, 1.0).size
        if all(np.linalg.norm(hand.joints2d - k.joints2d, axis=1).mean() > _DUPLICATE_FRACTION * size
               for k in kept):
            kept.append(hand)
    return kept


def _crop_record(rgb: np.ndarray, hand: MediaPipeHand, cfg: TeacherConfig) -> tuple[bytes, dict]:
    """JPEG bytes of the hand's crop and its index record (without file/source fields)."""
    box = box_from_points(hand.joints2d, cfg.margin)
    matrix = crop_matrix(box, cfg.res)
    crop = warp(rgb, matrix, cfg.res)
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, cfg.quality])
    assert ok, "cv2.imencode failed on a valid uint8 crop"
    record = {
        "handedness": hand.handedness, "score": round(hand.score, 4),
        "joints2d": np.round(transform_points(hand.joints2d, matrix), 3).tolist(),
        "joints3d": np.round(hand.joints3d, 2).tolist(),
        "box": [round(v, 3) for v in box.as_list()], "res": cfg.res,
    }
    return jpeg.tobytes(), record


def find_inputs(paths: list[Path]) -> tuple[list[Path], list[Path], list[str]]:
    """Split inputs into image files (folders searched recursively, sorted) and video files.

    Returns:
        (images, videos, problems): problems are one-line messages (missing path, empty folder,
        unsupported file type).
    """
    images: list[Path] = []
    videos: list[Path] = []
    problems: list[str] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES
                           and p.is_file())
            if not found:
                problems.append(f"no images in folder {path}")
            images.extend(found)
        elif path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            videos.append(path)
        elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            images.append(path)
        elif path.exists():
            problems.append(f"not a folder, image or video: {path}")
        else:
            problems.append(f"no such file or folder: {path}")
    return images, videos, problems


# Per-process teacher for --workers > 1 (each process needs its own MediaPipe graph).
_WORKER: tuple[MediaPipeTeacher, TeacherConfig] | None = None


def _init_worker(cfg: TeacherConfig) -> None:
    global _WORKER
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # native log lines of the workers' MediaPipe graphs
    os.close(devnull)
    _WORKER = (MediaPipeTeacher(False, cfg.min_score, cfg.mirrored), cfg)


def _label_in_worker(path: Path) -> tuple[Path, list[tuple[bytes, dict]], str | None]:
    assert _WORKER is not None
    return _label_image(path, *_WORKER)


def _label_image(path: Path, teacher: MediaPipeTeacher, cfg: TeacherConfig
                 ) -> tuple[Path, list[tuple[bytes, dict]], str | None]:
    """(path, crops, error) for one photo; error is a one-line reason when it was unusable."""
    try:
        rgb = read_rgb(path)
    except OSError as exc:
        return path, [], f"unreadable image ({exc.strerror})"
    except ValueError:
        return path, [], "unreadable image"
    return (path, *_crops_of(rgb, teacher, cfg))


def _crops_of(rgb: np.ndarray, teacher: MediaPipeTeacher, cfg: TeacherConfig
              ) -> tuple[list[tuple[bytes, dict]], str | None]:
    """(crops, error) for one RGB image; one bad image must not stop a run."""
    try:
        return [_crop_record(rgb, hand, cfg) for hand in teacher.label(rgb)], None
    except (cv2.error, RuntimeError, ValueError) as exc:
        return [], f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[-1]}"


class _Writer:
    """Writes crops and index lines into the temporary dataset folder."""

    def __init__(self, root: Path, stats: TeacherStats):
        (root / "crops").mkdir(parents=True)
        self._root = root
        self._index = open(root / "index.jsonl", "w", encoding="utf-8")
        self._stats = stats

    def add(self, crops: list[tuple[bytes, dict]], source: Path, frame: int | None) -> None:
        for jpeg, record in crops:
            name = f"crops/{self._stats.crops:06d}.jpg"
            (self._root / name).write_bytes(jpeg)
            line = {"file": name, "source": str(source.resolve()), "frame": frame, **record}
            self._index.write(json.dumps(line) + "\n")
            self._stats.crops += 1

    def close(self) -> None:
        self._index.close()


def _error(stats: TeacherStats, message: str) -> None:
    stats.errors.append(message)
    tqdm.write(f"warning: {message}", file=sys.stderr)  # tqdm.write: under the progress bar


def _label_images(images: list[Path], cfg: TeacherConfig, writer: _Writer, stats: TeacherStats,
                  tick: Callable[[], None]) -> None:
    if cfg.workers > 1 and len(images) > 1:
        context = multiprocessing.get_context("spawn")  # MediaPipe graphs must not be forked
        pool = context.Pool(cfg.workers, initializer=_init_worker, initargs=(cfg,))
        results = pool.imap(_label_in_worker, images, chunksize=8)
    else:
        pool = None
        teacher = MediaPipeTeacher(False, cfg.min_score, cfg.mirrored)
        results = (_label_image(path, teacher, cfg) for path in images)
    try:
        for path, crops, error in tqdm(results, total=len(images), desc="photos", unit="img"):
            stats.images += 1
            tick()
            if error is not None:
                stats.unreadable += 1
                _error(stats, f"{error}: {path}")
            elif not crops:
                stats.no_hand += 1
            else:
                writer.add(crops, path, None)
    finally:
        if pool is not None:
            pool.terminate()
        else:
            teacher.close()


def _label_video(path: Path, cfg: TeacherConfig, writer: _Writer, stats: TeacherStats,
                 tick: Callable[[], None]) -> None:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        stats.bad_videos += 1
        _error(stats, f"cannot open video: {path}")
        return
    expected = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    read = 0
    with MediaPipeTeacher(True, cfg.min_score, cfg.mirrored) as teacher, \
            tqdm(total=expected or None, desc=path.name, unit="frame") as bar:
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            if read % cfg.frame_step == 0:
                stats.frames += 1
                crops, error = _crops_of(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), teacher, cfg)
                if error is not None:
                    _error(stats, f"{error}: {path} frame {read}")
                elif crops:
                    writer.add(crops, path, read)
                else:
                    stats.no_hand += 1
            read += 1
            bar.update()
            tick()
    capture.release()
    if read == 0 or read < expected:
        stats.bad_videos += 1
        _error(stats, f"video truncated or unreadable: {path} (read {read} of {expected} frames)")


def run_teacher(cfg: TeacherConfig, tick: Callable[[], None] = lambda: None) -> TeacherStats:
    """Label every input and publish the dataset at cfg.out.

    Args:
        cfg: the run's settings.
        tick: called after each photo and each video frame (progress for a caller without tqdm).

    Raises:
        FileExistsError: cfg.out exists and cfg.overwrite is False.
        ValueError: a bad setting, no input, or no hand in any input (nothing is written then).
    """
    if cfg.res <= 0 or cfg.frame_step < 1 or cfg.workers < 1 or not 0 < cfg.margin:
        raise ValueError(f"bad settings: res={cfg.res} frame_step={cfg.frame_step} "
                         f"workers={cfg.workers} margin={cfg.margin}")
    if cfg.out.exists() and not cfg.overwrite:
        raise FileExistsError(f"{cfg.out} exists (pass --overwrite to replace it)")
    stats = TeacherStats()
    images, videos, problems = find_inputs(cfg.inputs)
    for message in problems:
        _error(stats, message)
    if not images and not videos:
        raise ValueError("no images or videos to label")
    tmp = temp_folder_beside(cfg.out)
    try:
        writer = _Writer(tmp, stats)
        try:
            if images:
                _label_images(images, cfg, writer, stats, tick)
            for video in videos:
                _label_video(video, cfg, writer, stats, tick)
        finally:
            writer.close()
        if stats.crops == 0:
            raise ValueError(f"no hand found in any input; nothing written ({stats.summary()})")
        publish_folder(tmp, cfg.out)  # --overwrite: swaps only now that the new dataset is complete
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return stats


def _parse(argv: list[str] | None) -> TeacherConfig:
    parser = argparse.ArgumentParser(prog="python -m dirnet.data.teacher", description=(
        "Label hands in photos/videos with MediaPipe Hands; write square crops + index.jsonl."))
    parser.add_argument("--images", nargs="+", type=Path, required=True,
                        help="folders of images (searched recursively) and/or video files")
    parser.add_argument("--out", type=Path, required=True, help="dataset folder to create")
    parser.add_argument("--res", type=int, default=224, help="crop side in px (default 224)")
    parser.add_argument("--min-score", type=float, default=0.5,
                        help="MediaPipe detection/presence threshold (default 0.5)")
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN,
                        help="crop side / landmark extent (default %(default)s)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    parser.add_argument("--workers", type=int, default=1, help="processes for photos (default 1)")
    parser.add_argument("--frame-step", type=int, default=1, help="label every n-th video frame")
    parser.add_argument("--mirrored", action="store_true",
                        help="inputs are selfie-mirrored: keep MediaPipe's handedness label")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    args = parser.parse_args(argv)
    return TeacherConfig(inputs=args.images, out=args.out, res=args.res, min_score=args.min_score,
                         margin=args.margin, quality=args.quality, workers=args.workers,
                         frame_step=args.frame_step, mirrored=args.mirrored,
                         overwrite=args.overwrite)


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; returns the exit status (dirnet.cli; 130 when interrupted)."""
    cfg = _parse(argv)
    configure_logging()
    start = time.perf_counter()
    try:
        with quiet_native_stderr():
            stats = run_teacher(cfg)
    except (ValueError, FileExistsError, OSError) as exc:
        return fail(str(exc))
    except KeyboardInterrupt:
        return fail("interrupted; nothing written", 130)
    log.info("%s; wrote %s in %.1f s", stats.summary(), cfg.out, time.perf_counter() - start)
    return 0


if __name__ == "__main__":
    sys.exit(main())
