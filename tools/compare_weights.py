"""Is one checkpoint better than another on the same hands, beyond noise? (docs/GENERALISATION.md)

    python tools/compare_weights.py A B [--data SPEC ...] [--limit 400] [--resamples 2000]

Runs both checkpoints (all loops) on every hand of each source (default: `counting_wall`'s teacher
crops and the ASL clip, the people no checkpoint of the study trained on) and prints, per source
and pooled, the 2D mean error of each (256 px crops), the mean per-hand difference B - A and its
95% bootstrap interval over hands (paired: the same hands in every resample).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dirnet.evaluation.benchmark import ASL_CLIP, asl_clip_spec  # noqa: E402
from dirnet.evaluation.replay import collect  # noqa: E402
from dirnet.evaluation.sources import open_source, parse_spec  # noqa: E402
from dirnet.weights import load_checkpoint  # noqa: E402

DEFAULT_DATA = ("teacher:data/teacher/counting_wall", asl_clip_spec(Path(ASL_CLIP)))


def per_hand_errors(weights: Path, spec: str, limit: int | None) -> np.ndarray:
    """(N,) 2D mean error per hand of the last loop, px of a 256 px crop."""
    model, _ = load_checkpoint(weights)
    model.eval()
    table = collect(model, open_source(parse_spec(spec), model.cfg.input_res, limit), desc=weights.name)
    return np.nanmean(table.errors().crop256[-1], axis=-1)


def paired_interval(diff: np.ndarray, resamples: int, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of mean(diff) over resampled hands."""
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/compare_weights.py", description=__doc__.split("\n\n")[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--data", nargs="+", default=list(DEFAULT_DATA), help="dirnet.evaluation data specs")
    p.add_argument("--limit", type=int, default=400, help="hands per source (0: all)")
    p.add_argument("--resamples", type=int, default=2000)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    limit = args.limit or None
    pooled = []
    print(f"{'source':28} {'hands':>5}  {args.a.name:>16}  {args.b.name:>16}  {'B - A, 95% interval':>26}")
    for spec in args.data:
        a, b = (per_hand_errors(w, spec, limit) for w in (args.a, args.b))
        keep = np.isfinite(a) & np.isfinite(b)
        diff = b[keep] - a[keep]
        pooled.append(diff)
        lo, hi = paired_interval(diff, args.resamples)
        name = parse_spec(spec).name
        print(f"{name:28} {keep.sum():>5}  {a[keep].mean():>16.2f}  {b[keep].mean():>16.2f}  "
              f"{diff.mean():>+8.2f} ({lo:+.2f} to {hi:+.2f})")
    diff = np.concatenate(pooled)
    lo, hi = paired_interval(diff, args.resamples)
    print(f"{'all':28} {len(diff):>5}  {'':>16}  {'':>16}  {diff.mean():>+8.2f} ({lo:+.2f} to {hi:+.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
