"""How DIR-Net's 2D error depends on how a crop frames the hand, with and without reframing.

Held-out teacher crops are cut again around their labelled joints at several margins (box side /
the joints' extent; training crops use 1.5) and optional random off-centre shifts, at 256 px, and
the Estimator runs on them once (`reframe=False`) and with its second pass for loose crops
(`reframe=True`, what `python -m dirnet.predict` does). Errors are converted to px of a 256 px
crop at margin 1.5, so every row measures the same hand size.

Usage:
    python tools/framing_study.py [--weights W] [--teacher data/teacher/<folder> ...]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dirnet.crop import DEFAULT_MARGIN, Box, box_from_points, crop_matrix, transform_points, warp  # noqa: E402
from dirnet.data.readers import read_samples  # noqa: E402
from dirnet.estimator import Estimator  # noqa: E402
from dirnet.image_io import read_rgb  # noqa: E402
from dirnet.data.splits import split_samples  # noqa: E402

RES = 256
FRAMINGS = ((1.2, 0.0), (1.5, 0.0), (2.0, 0.0), (2.5, 0.0), (3.0, 0.0), (1.5, 0.15))  # (margin, shift)


@dataclass(frozen=True)
class StudyConfig:
    """Command-line options."""

    teacher: tuple[Path, ...]
    weights: Path | None = None
    seed: int = 0


def _held_out(folders: tuple[Path, ...]) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(RGB image, (21, 2) joints, handedness) of every held-out crop of the teacher folders."""
    out = []
    for folder in folders:
        _, val = split_samples(read_samples("teacher", folder), 0.05)
        for s in val:
            try:
                out.append((read_rgb(s.image_path), s.joints2d[:, :2], s.handedness or "right"))
            except (OSError, ValueError):
                continue  # an unreadable crop is left out
    if not out:
        raise ValueError("no held-out teacher crop found")
    return out


def mean_error(estimator: Estimator, samples, margin: float, shift: float, reframe: bool,
               rng: np.random.Generator) -> tuple[float, int]:
    """Mean 2D error (px of a margin-1.5 256 px crop) and the number of crops reframed."""
    crops, truth = [], []
    for image, joints, _ in samples:
        box = box_from_points(joints, margin)
        dx, dy = rng.uniform(-shift, shift, 2) * box.size
        matrix = crop_matrix(Box(box.cx + dx, box.cy + dy, box.size), RES)
        crops.append(warp(image, matrix, RES))
        truth.append(transform_points(joints, matrix))
    poses = estimator.estimate(crops, [hand for *_, hand in samples], reframe=reframe)
    errors = [np.linalg.norm(p.joints2d - t, axis=1).mean() for p, t in zip(poses, truth)]
    return float(np.mean(errors)) * margin / DEFAULT_MARGIN, sum(p.reframed for p in poses)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=None, help="default: the shipped weights")
    parser.add_argument("--teacher", type=Path, nargs="+", required=True, help="teacher dataset folders")
    parser.add_argument("--seed", type=int, default=0)
    a = parser.parse_args(argv)
    cfg = StudyConfig(tuple(a.teacher), a.weights, a.seed)
    try:
        samples = _held_out(cfg.teacher)
        estimator = Estimator.from_pretrained(cfg.weights)
    except (OSError, ValueError) as exc:
        print(f"framing_study: {exc}", file=sys.stderr)
        return 1
    print(f"{len(samples)} held-out crops; 2D error in px of a 256 px crop at margin {DEFAULT_MARGIN}")
    print(f"{'margin':>7} {'shift':>6} {'one pass':>9} {'reframed':>9} {'crops reframed':>15}")
    for margin, shift in tqdm(FRAMINGS, desc="framings", disable=None):
        once, _ = mean_error(estimator, samples, margin, shift, False, np.random.default_rng(cfg.seed))
        twice, count = mean_error(estimator, samples, margin, shift, True, np.random.default_rng(cfg.seed))
        tqdm.write(f"{margin:7.1f} {shift:6.2f} {once:9.2f} {twice:9.2f} {count:>9d}/{len(samples)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
