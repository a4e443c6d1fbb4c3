"""How much do neighbouring checkpoints of one run differ on hands it never saw?

    python tools/checkpoint_curve.py CKPT [CKPT ...] [--data SPEC ...] [--limit 400] [--out DIR]
    python tools/checkpoint_curve.py START $(ls -v runs/RUN/step*.safetensors) --out DIR [--against CURVE]

Scores every checkpoint (e.g. a run's `step*.safetensors`, kept with `keep_every`) on the same
hands as `tools/compare_weights.py` (default: `counting_wall`'s teacher crops and the ASL clip) and
prints, per checkpoint and source, the 2D mean error (256 px crops, all loops). With --out it
writes `curve.json` and `curve.png` (error against checkpoint, in the order given, one line per source),
and a later call with the same --out (and the same --data and --limit) scores only the checkpoints
its `curve.json` lacks, so it can follow a run as it keeps weights; the file then holds the
checkpoints of the latest call. --against another run's `curve.json` compares the checkpoints of
the same name (an arm against its control, step for step): per source, both runs' mean and sd over
them, the mean difference with its standard error (over the paired steps: checkpoint noise within
one run each, not run-to-run noise), and at how many steps this run is worse; only checkpoints named
step* take part. The spread
down a run is the noise floor any single-checkpoint comparison sits on (docs/GENERALISATION.md).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compare_weights import DEFAULT_DATA, per_hand_errors  # noqa: E402

from dirnet.evaluation.sources import parse_spec  # noqa: E402
from dirnet.io import write_text_atomic  # noqa: E402


def _plot(table: dict[str, dict[str, float]], png: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(names)), 3.6))
    for source in next(iter(table.values())):
        ax.plot(range(len(names)), [table[n][source] for n in names], marker="o", label=source)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("2D mean error, px (256 px crops)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _against(table: dict[str, dict[str, float]], control: dict[str, dict[str, float]], sources: list[str]) -> None:
    """Print, per source, this run against `control` over the checkpoints both have."""
    shared = [n for n in table if n in control and all(s in control[n] for s in sources)]
    if len(shared) < 2:
        print(f"against the control: {len(shared)} checkpoint(s) of the same name, too few to compare")
        return
    print(f"against the control, {len(shared)} checkpoints of the same name:")
    for s in sources:
        mine, theirs = (np.array([t[n][s] for n in shared]) for t in (table, control))
        diff = mine - theirs
        se = diff.std(ddof=1) / np.sqrt(len(diff))
        print(f"  {s}: {mine.mean():.2f} (sd {mine.std():.2f}) against {theirs.mean():.2f} (sd {theirs.std():.2f}); "
              f"difference {diff.mean():+.2f} (se {se:.2f}), worse at {int((diff > 0).sum())} of {len(diff)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/checkpoint_curve.py", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", type=Path)
    p.add_argument("--data", nargs="+", default=list(DEFAULT_DATA), help="dirnet.evaluation data specs")
    p.add_argument("--limit", type=int, default=400, help="hands per source (0: all)")
    p.add_argument("--out", type=Path, help="folder for curve.json and curve.png")
    p.add_argument("--against", type=Path, help="a control run's curve.json, compared step for step")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    sources = [parse_spec(s).name for s in args.data]
    scored = json.loads((args.out / "curve.json").read_text()) if args.out and (args.out / "curve.json").is_file() else {}
    table: dict[str, dict[str, float]] = {}
    print(f"{'checkpoint':24} " + " ".join(f"{s:>24}" for s in sources))
    stems = [c.with_suffix("").name for c in args.checkpoints]
    for ckpt, stem in zip(args.checkpoints, stems):
        name = stem if stems.count(stem) == 1 else f"{ckpt.parent.name}/{stem}"  # two runs' step250
        reuse = scored.get(name, {})
        if not all(s in reuse for s in sources):
            reuse = {s: float(np.nanmean(per_hand_errors(ckpt, spec, args.limit or None)))
                     for s, spec in zip(sources, args.data)}
        table[name] = reuse
        print(f"{name:24} " + " ".join(f"{table[name][s]:>24.2f}" for s in sources), flush=True)
    for s in sources:
        values = np.array([table[n][s] for n in table])
        print(f"{s}: mean {values.mean():.2f}, spread (max - min) {np.ptp(values):.2f}, sd {values.std():.2f} px")
    if args.against:
        _against({n: v for n, v in table.items() if n.startswith("step")}, json.loads(args.against.read_text()), sources)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.out / "curve.json", json.dumps(table, indent=2) + "\n")
        _plot(table, args.out / "curve.png")
        print(f"wrote {args.out / 'curve.json'} and {args.out / 'curve.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
