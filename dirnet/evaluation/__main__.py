"""`python -m dirnet.evaluation`: accuracy and cost of DIR-Net checkpoints for every exit policy.

    python -m dirnet.evaluation --weights W --data SPEC [--data SPEC ...] [--out DIR]
        [--exit MODE ...] [--tau-var F] [--tau-gate F] [--compare W2] [--limit N]
        [--eager | --precision auto|fp32|int8]

SPEC names a labelled source:
    synth:DIR       renders written by `python -m dirnet.data.synth` (exact 2D + 3D labels)
    teacher:DIR     a `python -m dirnet.data.teacher` dataset (2D + 3D agreement with MediaPipe)
    NAME:DIR        a public dataset by reader name (freihand, stb, rhd, fpha, panoptic)
    ...:DIR:val[=F] / ...:DIR:train[=F]   only the held-out (or the training) share of a folder
                    source, split as training does (hash of the file name; F defaults to
                    TrainConfig.val_fraction)
    video:CLIP:REF2D[:REF3D][:left|right]
                    a video with per-frame reference landmarks: REF2D a JSON list of 21 [x_px, y_px, ...]
                    per frame, REF3D (optional) 21 world landmarks [x, y, z] in metres per frame; the
                    hand is the person's left or right (default: MediaPipe's classifier decides)

Every exit policy is replayed from one run of all loops per sample (evaluation.replay); the
report, files and figures are evaluation.report's.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..cli import EXIT_USAGE, configure_logging, fail, warn
from ..exit_policy import EXIT_MODES
from ..runtime.quantize import PRECISIONS
from .report import EvalConfig, evaluate

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dirnet.evaluation",
                                description="Evaluate DIR-Net checkpoints per exit policy (paper Figs. 7-8).")
    p.add_argument("--weights", type=Path, required=True, help="checkpoint (stem, .safetensors or .json)")
    p.add_argument("--data", action="append", required=True, metavar="SPEC",
                   help="synth:DIR | teacher:DIR | freihand:DIR (etc.), each with an optional :val or :train "
                        "split | video:CLIP:REF2D[:REF3D][:left|right]")
    p.add_argument("--out", type=Path, default=Path("eval"), help="folder for metrics.json and PNGs")
    p.add_argument("--exit", dest="exit_modes", nargs="+", choices=EXIT_MODES, default=list(EXIT_MODES),
                   help="exit modes to report (default: all)")
    p.add_argument("--tau-var", type=float, default=None, help="default: the checkpoint's")
    p.add_argument("--tau-gate", type=float, default=None, help="default: the checkpoint's")
    p.add_argument("--compare", type=Path, default=None, help="second checkpoint drawn on the same figures")
    p.add_argument("--eager", action="store_true", help="plain PyTorch instead of the fast path")
    p.add_argument("--precision", choices=PRECISIONS, default=EvalConfig.precision,
                   help="fast path precision (auto: int8 where the weights have an int8 plan)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, default=None, help="at most this many samples per source")
    p.add_argument("--mediapipe", action="store_true",
                   help="also score MediaPipe Hands (full) on the same crops, for labels that are not its own")
    a = p.parse_args(argv)
    configure_logging()
    cfg = EvalConfig(a.weights, tuple(a.data), a.out, tuple(a.exit_modes), a.tau_var, a.tau_gate, a.compare,
                     not a.eager, a.batch_size, a.limit, a.mediapipe, a.precision)
    try:
        result, problems = evaluate(cfg)
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    warn(*problems)
    done = len(result["sources"])
    if not done:
        return fail(f"none of the {len(cfg.data)} sources could be evaluated")
    log.info("evaluated %d of %d sources; wrote %s", done, len(cfg.data), cfg.out / "metrics.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
