"""How much of the error on new people is the hand read from the wrong side, and can the model's
own variance tell (docs/GENERALISATION.md)?

    python tools/side_flip_study.py --weights checkpoints/stop8_default [--limit 400] [--data SPEC ...]

Every hand is run twice: as labelled, and with its side flipped (a right hand cropped as a left
one, i.e. mirrored). A right hand seen from the back has the outline of a left hand seen from the
palm, so where the network reads a back as a palm, the flipped run puts thumb and little finger
where they are. Printed per source (2D mean error on 256 px crops, last loop): as labelled, flipped,
the better of the two per hand (what knowing the side would give), and the choice by the lower mean
variance (the model's own uncertainty) after the last and after the first loop.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dirnet.evaluation.benchmark import ASL_CLIP, asl_clip_spec  # noqa: E402
from dirnet.evaluation.replay import LoopTable, collect, fast_model  # noqa: E402
from dirnet.evaluation.sources import EvalSource, open_source, parse_spec  # noqa: E402
from dirnet.weights import load_checkpoint  # noqa: E402


def flipped(source: EvalSource) -> EvalSource:
    """The same hands with the opposite side (unreadable items pass through as their report)."""
    def items():
        for item in source._items():
            yield item if isinstance(item, str) else (*item[:3], not item[3])
    return EvalSource(f"{source.name}_flipped", len(source), items, source.res)


def last_loop_error(table: LoopTable) -> np.ndarray:
    """(N,) mean 2D error of the last loop, 256 px crops."""
    return table.errors().crop256[-1].mean(-1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/side_flip_study.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--limit", type=int, default=400)
    p.add_argument("--data", action="append", default=None, metavar="SPEC",
                   help="dirnet.evaluation specs (default: counting_wall's teacher crops and the ASL clip)")
    args = p.parse_args(argv)
    specs = args.data or ["teacher:data/teacher/counting_wall", asl_clip_spec(Path(ASL_CLIP))]
    model = fast_model(load_checkpoint(args.weights)[0].eval())
    torch.set_num_threads(1)
    print("source                  n  as labelled  flipped  better of two  by variance (last / first loop)")
    for text in specs:
        source = open_source(parse_spec(text), model.cfg.input_res, args.limit)
        plain, flip = collect(model, source), collect(model, flipped(source))
        e0, e1 = last_loop_error(plain), last_loop_error(flip)
        by_last = np.where(flip.mean_var[-1] < plain.mean_var[-1], e1, e0)
        by_first = np.where(flip.mean_var[0] < plain.mean_var[0], e1, e0)
        print(f"{source.name:22s} {len(e0):4d} {e0.mean():12.2f} {e1.mean():8.2f} {np.minimum(e0, e1).mean():14.2f} "
              f"{by_last.mean():15.2f} / {by_first.mean():.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
