"""Does re-estimating BatchNorm statistics on a new domain help (AdaBN)?

    python tools/adabn_study.py [--weights W] [--adapt 400] [--mix 1.0 0.5]

AdaBN (Li et al., "Revisiting Batch Normalization For Practical Domain Adaptation", 2016) replaces
every BatchNorm's running mean and variance with those of unlabelled crops of the target domain,
e.g. the first seconds of a user's session. For each source (counting_wall and the ASL clip, both
unseen by the shipped weights), the statistics are measured on its first `--adapt` crops, blended
with the trained ones (`mix` = the new statistics' share), and the source is scored in full as
`dirnet.finetune.score` does. Prints one line per source and mix.
"""
from __future__ import annotations

import argparse
import copy
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dirnet.estimator import DEFAULT_WEIGHTS  # noqa: E402
from dirnet.evaluation.benchmark import ASL_CLIP, asl_clip_spec  # noqa: E402
from dirnet.evaluation.sources import EvalSource, open_source, parse_spec  # noqa: E402
from dirnet.exit_policy import ExitPolicy  # noqa: E402
from dirnet.finetune.score import score  # noqa: E402
from dirnet.models.dirnet import DIRNet  # noqa: E402
from dirnet.weights import load_checkpoint  # noqa: E402


@dataclass(frozen=True)
class StudyConfig:
    weights: Path = DEFAULT_WEIGHTS
    sources: tuple[str, ...] = ("teacher:data/teacher/counting_wall", asl_clip_spec(Path(ASL_CLIP)))
    adapt: int = 400  # crops whose statistics are measured
    mixes: tuple[float, ...] = (1.0, 0.5)
    threads: int = 1


def first_crops(source: EvalSource, n: int) -> torch.Tensor:
    """The network inputs of a source's first n hands: (n, 3, R, R) in [0, 1]."""
    images: list[np.ndarray] = []
    for batch in source.batches(64):
        images.extend(batch.images)
        if len(images) >= n:
            break
    return torch.from_numpy(np.stack(images[:n])).permute(0, 3, 1, 2).float().div_(255.0)


def adapt_batchnorm(model: DIRNet, crops: torch.Tensor, mix: float) -> DIRNet:
    """A copy of `model` whose BatchNorm statistics are mix * (those of `crops`) + (1 - mix) * its own."""
    adapted = copy.deepcopy(model)
    norms = [m for m in adapted.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    trained = [(m.running_mean.clone(), m.running_var.clone()) for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over every batch
        m.train()
    with torch.no_grad():
        for start in range(0, len(crops), 64):
            adapted(crops[start:start + 64], adapted.cfg.max_loops)
    for m, (mean, var) in zip(norms, trained):
        m.eval()
        m.running_mean.lerp_(mean, 1.0 - mix)
        m.running_var.lerp_(var, 1.0 - mix)
    return adapted


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", type=Path, default=StudyConfig.weights)
    p.add_argument("--adapt", type=int, default=StudyConfig.adapt, help="crops whose statistics are measured")
    p.add_argument("--mix", type=float, nargs="+", default=list(StudyConfig.mixes),
                   help="shares of the new statistics tried")
    a = p.parse_args(argv)
    cfg = StudyConfig(weights=a.weights, adapt=a.adapt, mixes=tuple(a.mix))
    torch.set_num_threads(cfg.threads)
    model, meta = load_checkpoint(cfg.weights)
    model.eval()
    tau_gate = meta.get("defaults", {}).get("tau_gate", ExitPolicy.tau_gate)  # only the gate columns use it
    for spec in cfg.sources:
        source = open_source(parse_spec(spec), model.cfg.input_res)
        crops = first_crops(source, cfg.adapt)
        rows = [("trained statistics", model)] + [
            (f"AdaBN, mix {mix:g} ({len(crops)} crops)", adapt_batchnorm(model, crops, mix)) for mix in cfg.mixes]
        for label, candidate in rows:
            result = score(candidate, source, tau_gate)[0]
            print(f"{source.name:28} {label:30} 2D {result.err2d:6.2f} px  PA-MPJPE {result.pa_mpjpe:6.2f} mm",
                  flush=True)


if __name__ == "__main__":
    main()
