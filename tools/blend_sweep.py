"""Score blends of two checkpoints of one architecture, as `dirnet.finetune` chooses between them.

    python tools/blend_sweep.py --start weights/dirnet_default --tuned DIR/finetuned
                                --data SPEC [--data SPEC ...] [--alphas 0,0.2,0.4,0.6,0.8,1] [--no-asl]

Every alpha gives the weights start + alpha * (tuned - start) (dirnet.finetune.blend); each is
scored on every --data spec of `dirnet.evaluation` and on the ASL clip of ../shared (when it is
there): 2D mean error (256 px crops) and PA-MPJPE, all loops. The fine-tune must be an unblended one
(`dirnet.finetune --blend 1`) for the sweep to span the whole line.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dirnet.evaluation.benchmark import ASL_CLIP, asl_clip_spec  # noqa: E402
from dirnet.finetune.blend import blend_state  # noqa: E402
from dirnet.finetune.score import open_checks, score  # noqa: E402
from dirnet.weights import load_checkpoint  # noqa: E402


@dataclass(frozen=True)
class SweepConfig:
    start: Path
    tuned: Path
    data: tuple[str, ...]
    alphas: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    asl: bool = True


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/blend_sweep.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--start", type=Path, required=True, help="the starting checkpoint (alpha 0)")
    p.add_argument("--tuned", type=Path, required=True, help="the fine-tuned checkpoint (alpha 1)")
    p.add_argument("--data", action="append", default=[], metavar="SPEC", help="dirnet.evaluation spec; repeatable")
    p.add_argument("--alphas", default=",".join(map(str, SweepConfig.alphas)))
    p.add_argument("--no-asl", action="store_true", help="do not score the ASL clip")
    a = p.parse_args(argv)
    cfg = SweepConfig(a.start, a.tuned, tuple(a.data), tuple(float(x) for x in a.alphas.split(",")), not a.no_asl)
    try:
        start, _ = load_checkpoint(cfg.start)
        tuned, _ = load_checkpoint(cfg.tuned)
        ends = start.state_dict(), {k: v.clone() for k, v in tuned.state_dict().items()}
        specs = list(cfg.data) + ([asl_clip_spec(Path(ASL_CLIP))] if cfg.asl and Path(ASL_CLIP).is_file() else [])
        sources, problems = open_checks(specs, start.cfg.input_res)
        for problem in problems:
            print(f"warning: not scored: {problem}", file=sys.stderr)
        if not sources:
            raise ValueError("nothing to score: give --data specs")
        print("2D mean px (256 px crops) / PA-MPJPE mm, all loops")
        print(f"{'alpha':>5}  " + "  ".join(f"{name[:24]:>24}" for name in sources))
        for alpha in cfg.alphas:
            tuned.load_state_dict(blend_state(*ends, alpha))
            scores = [score(tuned, source, 1.0)[0] for source in sources.values()]
            print(f"{alpha:>5.2f}  " + "  ".join(f"{s.err2d:>14.2f} / {s.pa_mpjpe:<7.2f}" for s in scores), flush=True)
    except (ValueError, OSError) as exc:
        print(f"blend_sweep: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
