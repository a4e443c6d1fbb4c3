"""`python -m dirnet.predict`: DIR-Net on a folder of hand crops -> one JSON file of joints."""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .estimator import Estimator
from .exits import EXIT_MODES
from .image_io import IMAGE_SUFFIXES, UnreadableImage, read_rgb
from .io import write_text_atomic

__all__ = ["PredictConfig", "predict", "main"]

@dataclass(frozen=True)
class PredictConfig:
    input_dir: Path
    out: Path
    weights: Path | None = None
    hand: str = "right"  # "left", "right" or "auto" (MediaPipe decides per image)
    exit: str | None = None  # None: the weights' default
    tau_var: float | None = None
    tau_gate: float | None = None
    max_loops: int | None = None
    batch_size: int = 16
    reframe: bool = True  # a second pass on loosely framed crops (Estimator.estimate(reframe=True))
    precision: str = "auto"  # "fp32", "int8" or "auto" (int8 where the weights have an int8 plan)


def predict(cfg: PredictConfig) -> tuple[dict, list[str]]:
    """Run the model on every image of cfg.input_dir. Returns (predictions by file name, errors)."""
    files = sorted(p for p in cfg.input_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images in {cfg.input_dir}")
    estimator = Estimator.from_pretrained(cfg.weights, precision=cfg.precision)
    handedness_of = None
    if cfg.hand == "auto":
        from .handedness import HandednessClassifier
        handedness_of = HandednessClassifier()
    predictions, errors = {}, []
    batch: list[tuple[str, np.ndarray, str]] = []

    def flush() -> None:
        poses = estimator.estimate([b[1] for b in batch], [b[2] for b in batch], exit=cfg.exit,
                                   tau_var=cfg.tau_var, tau_gate=cfg.tau_gate, max_loops=cfg.max_loops,
                                   reframe=cfg.reframe)
        for (name, _, hand), pose in zip(batch, poses):
            predictions[name] = {
                "joints2d": np.round(pose.joints2d, 2).tolist(),
                "joints3d": np.round(pose.joints3d, 2).tolist(),
                "loops": pose.loops, "gflops": round(pose.gflops, 4), "handedness": hand,
                "reframed": pose.reframed,
            }
        batch.clear()

    for path in tqdm(files, desc="predict", unit="img", disable=None):
        try:
            image = read_rgb(path)
        except (UnreadableImage, OSError) as exc:
            reason = exc.reason if isinstance(exc, UnreadableImage) else exc.strerror or exc
            errors.append(f"{path.name}: {reason}, skipped")
            continue
        hand = handedness_of(image) if handedness_of else cfg.hand
        batch.append((path.name, image, hand))
        if len(batch) == cfg.batch_size:
            flush()
    if batch:
        flush()
    return predictions, errors


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Estimate 3D hand pose on a folder of hand crops.")
    p.add_argument("--input-dir", type=Path, required=True, help="folder of images, one hand each")
    p.add_argument("--out", type=Path, required=True, help="output JSON file")
    p.add_argument("--weights", type=Path, default=None, help="checkpoint (default: shipped weights)")
    p.add_argument("--hand", choices=("left", "right", "auto"), default="right")
    p.add_argument("--exit", choices=EXIT_MODES, default=None)
    p.add_argument("--tau-var", type=float, default=None)
    p.add_argument("--tau-gate", type=float, default=None)
    p.add_argument("--max-loops", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--no-reframe", dest="reframe", action="store_false",
                   help="one pass per crop, even when the hand fills little of it")
    p.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto",
                   help="auto: int8 where the weights have an int8 plan (dirnet.runtime.calibrate)")
    a = p.parse_args(argv)
    cfg = PredictConfig(a.input_dir, a.out, a.weights, a.hand, a.exit, a.tau_var, a.tau_gate,
                        a.max_loops, a.batch_size, a.reframe, a.precision)
    if not cfg.input_dir.is_dir():
        print(f"error: {cfg.input_dir} is not a folder", file=sys.stderr)
        return 2
    try:
        predictions, errors = predict(cfg)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in errors:
        print(f"warning: {line}", file=sys.stderr)
    if not predictions:
        print(f"error: none of the images in {cfg.input_dir} could be read", file=sys.stderr)
        return 1
    try:
        write_text_atomic(cfg.out, json.dumps(predictions))
    except OSError as exc:
        print(f"error: cannot write {cfg.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(predictions)} predictions to {cfg.out} ({len(errors)} skipped)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
