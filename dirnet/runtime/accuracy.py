"""How much accuracy a precision costs: fp32 against int8 engines on the same labelled hands.

Both engines run every loop on the same crops (`dirnet.evaluation.replay.collect`); the errors are
read at all loops and at the default exit, as `dirnet.evaluation.benchmark` reports them. A
relative delta of +0.01 means int8 is 1% worse than fp32 on that figure.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..evaluation.replay import collect, policy_summary
from ..evaluation.sources import open_source, parse_spec
from ..exit_policy import ExitPolicy
from ..flops import StageFlops
from ..models.staged import StagedModel

__all__ = ["AccuracyFigures", "PrecisionAccuracy", "accuracy_figures", "compare_precisions"]


@dataclass(frozen=True)
class AccuracyFigures:
    """One engine on one source: 2D error (crop-256 px, mean over hands) and PA-MPJPE (mm), at
    all loops and at the default exit, and the mean loops that exit ran."""

    err2d: float
    pa_mpjpe: float
    exit_err2d: float
    exit_pa_mpjpe: float
    exit_loops: float


@dataclass(frozen=True)
class PrecisionAccuracy:
    """fp32 against int8 on one labelled source; `delta` holds int8 / fp32 - 1 per figure."""

    source: str
    n: int
    fp32: AccuracyFigures
    int8: AccuracyFigures
    delta: dict[str, float]

    @property
    def worst(self) -> float:
        """The largest relative loss over the error figures (NaN figures ignored)."""
        values = [v for k, v in self.delta.items() if k != "exit_loops" and np.isfinite(v)]
        return max(values) if values else float("nan")


def accuracy_figures(engine: StagedModel, stage: StageFlops, spec: str, policy: ExitPolicy,
                     limit: int | None = None, desc: str = "accuracy") -> tuple[AccuracyFigures, int]:
    """AccuracyFigures of one engine (DIRNet or FastDIRNet) on a `dirnet.evaluation` data spec.

    stage: count_stage_flops of the engine's DIRNet (policy_summary wants them; the figures do not).

    Returns:
        (figures, number of hands).
    Raises:
        FileNotFoundError, ValueError: unreadable or empty data.
    """
    source = open_source(parse_spec(spec), engine.cfg.input_res, limit)
    table = collect(engine, source, desc=desc)
    errors = table.errors()
    full, _ = policy_summary(table, errors, stage, replace(policy, exit_mode="none", max_loops=table.num_loops))
    chosen, _ = policy_summary(table, errors, stage, policy)
    return AccuracyFigures(full.err2d_mean, full.pa_mpjpe, chosen.err2d_mean, chosen.pa_mpjpe,
                           chosen.mean_loops), len(table)


def compare_precisions(fp32: StagedModel, int8: StagedModel, stage: StageFlops, spec: str, policy: ExitPolicy,
                       limit: int | None = None, reference: AccuracyFigures | None = None) -> PrecisionAccuracy:
    """fp32 and int8 engines of the same model on one data spec.

    Args:
        fp32, int8: the engines (int8 is any engine compared against the fp32 one).
        stage: see accuracy_figures.
        spec: a `dirnet.evaluation` data spec with labels, e.g. "teacher:data/teacher/counting_wall".
        policy: the exit rule read at "exit" (the weights' defaults).
        limit: at most this many hands.
        reference: the fp32 figures when already measured on the same spec and limit.
    """
    name = parse_spec(spec).name
    if reference is None:
        reference, _ = accuracy_figures(fp32, stage, spec, policy, limit, desc=f"{name} fp32")
    figures, n = accuracy_figures(int8, stage, spec, policy, limit, desc=f"{name} int8")
    delta = {k: float(getattr(figures, k) / getattr(reference, k) - 1.0)
             for k in AccuracyFigures.__dataclass_fields__}
    return PrecisionAccuracy(name, n, reference, figures, delta)
