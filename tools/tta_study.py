"""Does averaging the model over turned copies of each crop help on hands it never saw?

    python tools/tta_study.py [--weights W] [--views 0 15,-15 0,15,-15 ...] [--data SPEC ...] [--limit 400]

Test-time augmentation (`dirnet.evaluation.tta`): each crop is turned about its centre by every
angle of a view set (degrees; 0 is the crop itself), the network runs on every copy (all loops),
and the last loop's joints are turned back and averaged. Per view set and source it prints the 2D
mean error (256 px crops), PA-MPJPE, and the paired difference in 2D from the first view set (by
default `0`, the plain crop) with its 95% bootstrap interval over hands (default hands:
`counting_wall`'s teacher crops and the ASL clip, as `tools/compare_weights.py`). A set of k views
costs k times the network. docs/GENERALISATION.md has the figures.
"""
from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compare_weights import DEFAULT_DATA, paired_interval  # noqa: E402

from dirnet.evaluation.replay import collect  # noqa: E402
from dirnet.evaluation.sources import open_source, parse_spec  # noqa: E402
from dirnet.evaluation.tta import rotation_average  # noqa: E402
from dirnet.estimator import DEFAULT_WEIGHTS  # noqa: E402
from dirnet.weights import load_checkpoint  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/tta_study.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    p.add_argument("--views", nargs="+", default=["0", "15,-15", "0,15,-15", "10,-10", "0,30,-30"],
                   help="view sets: comma-separated angles in degrees; the first set is the baseline")
    p.add_argument("--data", nargs="+", default=list(DEFAULT_DATA), help="dirnet.evaluation data specs")
    p.add_argument("--limit", type=int, default=400, help="hands per source (0: all)")
    p.add_argument("--resamples", type=int, default=2000)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    model, _ = load_checkpoint(args.weights)
    model.eval()
    view_sets = [tuple(float(a) for a in v.split(",")) for v in args.views]
    print(f"{'views':16} {'source':28} {'2D px':>7} {'PA mm':>7}  {'2D - baseline, 95% interval':>28}")
    for spec in args.data:
        name, baseline = parse_spec(spec).name, None
        for views in view_sets:
            source = open_source(parse_spec(spec), model.cfg.input_res, args.limit or None)
            errors = collect(model, source, desc=f"{name} {views}", forward=partial(rotation_average, angles=views)).errors()
            per_hand = np.nanmean(errors.crop256[-1], axis=-1)
            baseline = per_hand if baseline is None else baseline
            diff = per_hand - baseline
            lo, hi = paired_interval(diff[np.isfinite(diff)], args.resamples)
            label = ",".join(f"{a:g}" for a in views)
            print(f"{label:16} {name:28} {np.nanmean(per_hand):7.2f} {np.nanmean(errors.pa[-1]):7.2f}  "
                  f"{np.nanmean(diff):+8.2f} ({lo:+.2f} to {hi:+.2f})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
