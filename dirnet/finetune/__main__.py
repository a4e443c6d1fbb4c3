"""`python -m dirnet.finetune INPUT... --out DIR`: teach DIR-Net your hand, on the CPU.

    python -m dirnet.finetune INPUT [INPUT ...] --out DIR [--minutes M] [--weights W]

INPUT is a recording session folder of the app (its raw.mp4, every captured frame), a video file
or a folder of images. What a run does: dirnet.finetune.run. The table of scores before and after
goes to stdout; `--progress-json` adds one JSON progress line per half second there (what the
app reads) instead of progress bars. Exit status (dirnet.cli): 0 done, 1 too few frames with a
confident hand or a failure while running (nothing written), 2 bad arguments, inputs or weights,
130 / 143 interrupted by Ctrl+C / SIGTERM (nothing written). `--weights DIR` then loads the
result in every dirnet tool and the app.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

from ..cli import EXIT_FAILED, EXIT_USAGE, configure_logging, fail, warn
from ..mediapipe_hands import quiet_native_stderr
from ..weights import read_metadata
from .data import resolve_inputs
from .run import ADAPT, FinetuneConfig, FinetuneProgress, finetune
from .score import format_scores

_REPORT_EVERY_S = 0.5


def _json_reporter() -> Callable[[FinetuneProgress], None]:
    """One JSON line per progress report on stdout, at most two a second, and always the last."""
    last = [0.0]

    def report(progress: FinetuneProgress) -> None:
        now = time.monotonic()
        if now - last[0] >= _REPORT_EVERY_S or progress.fraction >= 1.0:
            last[0] = now
            print(json.dumps(asdict(progress)), flush=True)

    return report


def _parse(argv: list[str] | None) -> tuple[FinetuneConfig, bool]:
    d = FinetuneConfig
    p = argparse.ArgumentParser(prog="python -m dirnet.finetune", description=(
        "Fine-tune DIR-Net on your own hand: recordings, videos or image folders, labelled by MediaPipe."))
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="a recording session folder (its raw.mp4), a video file or a folder of images")
    p.add_argument("--out", type=Path, required=True, help="folder to create for the new weights")
    p.add_argument("--minutes", type=float, default=d.minutes,
                   help="time spent fine-tuning (default %(default)s); labelling and scoring come on top")
    p.add_argument("--weights", type=Path, default=None, help="starting checkpoint (default: the shipped weights)")
    p.add_argument("--steps", type=int, default=None, help="stop after this many steps even with time left")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--synth-share", type=float, default=d.synth_share,
                   help="share of each batch rendered on the fly (default %(default)s)")
    p.add_argument("--anchor", type=float, default=d.anchor,
                   help="weight of the starting model's own outputs as targets (its 2D on the renders, "
                        "its 3D everywhere), so the fine-tune forgets less elsewhere (default %(default)s; 0: off)")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (default %(default)s)")
    p.add_argument("--val-fraction", type=float, default=d.val_fraction,
                   help="share held out at the end of every input (default %(default)s)")
    p.add_argument("--min-frames", type=int, default=d.min_frames,
                   help="refuse inputs with fewer frames with a confident hand (default %(default)s)")
    p.add_argument("--min-score", type=float, default=d.min_score,
                   help="MediaPipe confidence a hand needs (default %(default)s)")
    p.add_argument("--frame-step", type=int, default=d.frame_step, help="label every n-th video frame")
    p.add_argument("--check", action="append", default=None, metavar="SPEC",
                   help="a dirnet.evaluation data spec scored before and after (default: the ASL clip "
                        "of ../shared when present); repeatable")
    p.add_argument("--no-checks", action="store_true", help="score no extra clip")
    p.add_argument("--synth-checks", type=int, default=d.synth_checks,
                   help="synthetic renders scored before and after (default %(default)s)")
    p.add_argument("--threads", type=int, default=d.threads, help="torch CPU threads (default: torch's)")
    p.add_argument("--nice", type=int, default=d.nice, help="lower this process's priority by N first")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--adapt", choices=list(ADAPT), default=d.adapt,
                   help="what learns: the feature extractor (early), every part but the pose and "
                        "uncertainty heads (features) or those too (all); default %(default)s")
    p.add_argument("--blend", type=float, default=None,
                   help="weight of the fine-tuned weights against the starting ones, 0..1 (default: the "
                        "most conservative blend keeping --keep-gain of the gain on the held-out slice)")
    p.add_argument("--keep-gain", type=float, default=d.keep_gain,
                   help="share of the best held-out gain the chosen blend keeps (default %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.add_argument("--progress-json", action="store_true",
                   help="progress as JSON lines on stdout instead of progress bars (for the app)")
    a = p.parse_args(argv)
    checks = () if a.no_checks else (tuple(a.check) if a.check else None)
    try:
        cfg = FinetuneConfig(inputs=tuple(a.inputs), out=a.out, minutes=a.minutes, weights=a.weights,
                             max_steps=a.steps, batch_size=a.batch_size, synth_share=a.synth_share,
                             anchor=a.anchor, lr=a.lr,
                             val_fraction=a.val_fraction, min_frames=a.min_frames, min_score=a.min_score,
                             frame_step=a.frame_step, synth_checks=a.synth_checks, checks=checks,
                             threads=a.threads, nice=a.nice, seed=a.seed, overwrite=a.overwrite,
                             adapt=a.adapt, blend=a.blend, keep_gain=a.keep_gain)
    except ValueError as exc:
        p.error(str(exc))
    return cfg, a.progress_json


def _stop(signum, _frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: list[str] | None = None) -> int:
    cfg, progress_json = _parse(argv)
    configure_logging()
    try:  # what stops the run before it starts is a usage error
        resolve_inputs(list(cfg.inputs))
        if cfg.weights is not None:
            read_metadata(cfg.weights)
        if cfg.out.exists() and not cfg.overwrite:
            raise FileExistsError(f"{cfg.out} exists (pass --overwrite to replace it)")
    except (ValueError, OSError) as exc:
        return fail(str(exc), EXIT_USAGE)
    if progress_json:
        os.environ["TQDM_DISABLE"] = "1"  # the app reads the JSON lines; bars would only be noise
    signal.signal(signal.SIGTERM, _stop)  # the app's Cancel: clean up as after Ctrl+C
    try:
        with quiet_native_stderr():  # MediaPipe's and TFLite's own log lines
            result = finetune(cfg, _json_reporter() if progress_json else lambda p: None)
    except KeyboardInterrupt as exc:
        print("cancelled; nothing written", file=sys.stderr)
        return 143 if exc.args == ("SIGTERM",) else 130
    except (ValueError, OSError) as exc:  # TooFewFrames is a ValueError
        return fail(str(exc), EXIT_FAILED)
    print(f"before -> after (all loops; the held-out slice is the last {cfg.val_fraction:.0%} of each input)")
    print(format_scores(result.before, result.after))
    warn(*(f"not scored: {line}" for line in result.problems))
    print(f"wrote {result.path}: {result.steps} steps, {result.samples} samples in {result.train_minutes:.1f} min "
          f"of fine-tuning (blended at {result.blend:.1f}), {result.total_minutes:.1f} min in all ({result.cpu_minutes:.1f} CPU min); "
          f"{result.frames['frames']} frames with a confident hand, {result.frames['train']} hands trained on, "
          f"{result.frames['val']} held out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
