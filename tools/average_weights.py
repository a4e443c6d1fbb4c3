"""Average the weights of several checkpoints of one training line (stochastic weight averaging).

    python tools/average_weights.py CKPT [CKPT ...] --out STEM

Checkpoints of one run at a constant learning rate (`keep_every`, `lr_schedule: constant`) lie in
one basin and their mean is a flatter point than any of them (Izmailov et al., UAI 2018); what it
does on hands the model never saw is measured in docs/GENERALISATION.md.
Floating-point tensors, BatchNorm running statistics included, are averaged with equal weight
(`dirnet.finetune.blend.mean_state`). The output's metadata names its parents, and `trained_on`
is the union of theirs, so the benchmark still tells held-out data from seen.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dirnet.finetune.blend import mean_state  # noqa: E402
from dirnet.weights import load_checkpoint, save_checkpoint  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/average_weights.py", description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True, help="output checkpoint stem")
    args = p.parse_args(argv)
    if len(args.checkpoints) < 2:
        p.error("give at least two checkpoints")
    try:
        loaded = [load_checkpoint(c) for c in args.checkpoints]
        model = loaded[-1][0]
        model.load_state_dict(mean_state([m.state_dict() for m, _ in loaded]))
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    seen: list[dict] = []
    for _, meta in loaded:
        for source in meta.get("training", {}).get("trained_on", []):
            if source not in seen:
                seen.append(source)
    path = save_checkpoint(model, args.out, {"training": {
        "averaged": [str(c) for c in args.checkpoints], "trained_on": seen}})
    print(f"wrote {path} (mean of {len(loaded)} checkpoints)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
