"""`python -m dirnet.predict`: DIR-Net on a folder of hand crops -> one JSON file of joints."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .cli import EXIT_USAGE, configure_logging, fail, warn
from .estimator import Estimator
from .exit_policy import EXIT_MODES
from .image_io import IMAGE_SUFFIXES, UnreadableImage, read_rgb
from .io import write_text_atomic
from .runtime.quantize import PRECISIONS

__all__ = ["PredictConfig", "predict", "main"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictConfig:
    """Arguments of one `python -m dirnet.predict` run."""

    input_dir: Path
    out: Path
    weights: Path | None = None
    hand: str = "right"  # "left", "right" or "auto" (MediaPipe decides per image)
    exit_mode: str | None = None  # None: the weights' default
    tau_var: float | None = None
    tau_gate: float | None = None
    max_loops: int | None = None
    batch_size: int = 16
    reframe: bool = True  # a second pass on loosely framed crops (Estimator.estimate(reframe=True))
    eager: bool = False  # plain PyTorch instead of the fast path
    precision: str = "auto"  # "fp32", "int8" or "auto" (int8 where the weights have an int8 plan)


def predict(cfg: PredictConfig) -> tuple[dict, list[str]]:
    """Run the model on every image of cfg.input_dir. Returns (predictions by file name, errors)."""
    files = sorted(p for p in cfg.input_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"no images in {cfg.input_dir}")
    estimator = Estimator.from_pretrained(cfg.weights, backend="eager" if cfg.eager else "auto",
                                          precision=cfg.precision)
    handedness_of = None
    if cfg.hand == "auto":
        from .handedness import HandednessClassifier
        handedness_of = HandednessClassifier()
    predictions, errors = {}, []
    batch: list[tuple[str, np.ndarray, str]] = []

    def flush() -> None:
        poses = estimator.estimate([b[1] for b in batch], [b[2] for b in batch], exit_mode=cfg.exit_mode,
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
    p = argparse.ArgumentParser(prog="python -m dirnet.predict",
                                description="Estimate 3D hand pose on a folder of hand crops.")
    p.add_argument("--input-dir", type=Path, required=True, help="folder of images, one hand each")
    p.add_argument("--out", type=Path, required=True, help="output JSON file")
    p.add_argument("--weights", type=Path, default=None, help="checkpoint (default: shipped weights)")
    p.add_argument("--hand", choices=("left", "right", "auto"), default="right")
    p.add_argument("--exit", dest="exit_mode", choices=EXIT_MODES, default=None,
                   help="default: the weights'")
    p.add_argument("--tau-var", type=float, default=None)
    p.add_argument("--tau-gate", type=float, default=None)
    p.add_argument("--max-loops", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--no-reframe", dest="reframe", action="store_false",
                   help="one pass per crop, even when the hand fills little of it")
    p.add_argument("--eager", action="store_true", help="plain PyTorch instead of the fast path")
    p.add_argument("--precision", choices=PRECISIONS, default=PredictConfig.precision,
                   help="auto: int8 where the weights have an int8 plan (dirnet.runtime.calibrate)")
    cfg = PredictConfig(**vars(p.parse_args(argv)))
    configure_logging()
    if not cfg.input_dir.is_dir():
        return fail(f"{cfg.input_dir} is not a folder", EXIT_USAGE)
    try:
        predictions, errors = predict(cfg)
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    warn(*errors)
    if not predictions:
        return fail(f"none of the images in {cfg.input_dir} could be read")
    try:
        write_text_atomic(cfg.out, json.dumps(predictions))
    except OSError as exc:
        return fail(f"cannot write {cfg.out}: {exc.strerror or exc}")
    log.info("wrote %d predictions to %s (%d skipped)", len(predictions), cfg.out, len(errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())
