"""Choose which stages run in int8, by measurement: `python -m dirnet.runtime.calibrate`.

    python -m dirnet.runtime.calibrate [--weights W] [--data SPEC] [--n 256]
                                       [--check SPEC ...] [--limit 300] [--tolerance 0.01]

1. Calibrate every stage graph on `--n` real hand crops (MinMax over every loop's inputs).
2. Time each stage fp32 against int8 at batch 1, interleaved, in this thread's CPU time (which
   other processes' load hardly changes; wall-clock is reported beside it). A stage is a candidate
   when int8 is at least `--min-gain` faster.
3. Score the candidates on labelled held-out crops (`--check`): each alone, then together in order
   of their loss, keeping a stage only while every error figure (2D and PA-MPJPE, at all loops and
   at the default exit) stays within `--tolerance` of fp32, relative.
4. Write the plan (stages, their ranges and these measurements) to `<weights stem>.int8.json`,
   which `Estimator.from_pretrained(precision="auto")` then uses.

The calibration crops default to the training share of gesture_lab, the checks to the
counting_wall crops (people the weights never saw) and the held-out files of the two largest
training folders, so the choice is judged on hands the ranges never saw. Both checks matter: where the model is
accurate (~9 px), int8 noise is a larger share of the error than on new people (~21 px).
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..cli import EXIT_USAGE, configure_logging, fail
from ..estimator import DEFAULT_WEIGHTS, EstimatorDefaults
from ..evaluation.sources import open_source, parse_spec
from ..exit_policy import ExitPolicy
from ..flops import count_stage_flops
from ..models.dirnet import DIRNet
from ..weights import load_checkpoint
from .accuracy import accuracy_figures, compare_precisions
from .engine import FastDIRNet, configure_threads, images_to_tensor
from .onnx import create_session, stage_graphs
from .timing import interleaved_medians
from .quantize import (STAGE_KINDS, Int8Plan, calibrate, plan_path, quantizable, stage_inputs, stage_kind,
                       weights_digest)

__all__ = ["CalibrateConfig", "StageTiming", "stage_timings", "choose_plan", "run_calibration", "summary",
           "main"]

@dataclass(frozen=True)
class CalibrateConfig:
    """Command-line settings of `python -m dirnet.runtime.calibrate`."""

    weights: Path | None = None  # None: the shipped weights
    data: str = "teacher:data/teacher/gesture_lab:train"  # calibration crops
    n: int = 256  # calibration crops used
    check: tuple[str, ...] = ("teacher:data/teacher/counting_wall",  # held-out labelled crops
                              "teacher:data/teacher/gesture_lab:val", "teacher:data/teacher/sign_digits:val")
    limit: int | None = 300  # hands per check source
    tolerance: float = 0.01  # largest relative error increase accepted per figure
    min_gain: float = 0.05  # int8 must save at least this share of a stage's CPU time
    reps: int = 200  # timed calls per stage and precision
    out: Path | None = None  # default: <weights stem>.int8.json


@dataclass(frozen=True)
class StageTiming:
    """Median ms of one stage kind at batch 1 (summed over its graphs, e.g. every refine_<l>)."""

    stage: str
    fp32_cpu: float
    int8_cpu: float
    fp32_wall: float
    int8_wall: float

    @property
    def gain(self) -> float:
        """Share of the fp32 CPU time int8 saves."""
        return 1.0 - self.int8_cpu / self.fp32_cpu


def stage_timings(graphs, quantized, feeds, reps: int) -> list[StageTiming]:
    """fp32 against int8 per stage kind, batch 1, every graph and precision interleaved.

    Args:
        graphs, quantized: fp32 and int8 stage graphs of the same names.
        feeds: `stage_inputs` of the fp32 graphs (the first sample of the first feed is used).
        reps: timed calls of each.
    """
    calls, names = [], []
    for graph, qgraph in zip(quantizable(graphs), quantizable(quantized)):
        feed = {k: v[:1] for k, v in feeds[graph.name][0].items()}
        for precision, g in (("fp32", graph), ("int8", qgraph)):
            session = create_session(g.model)
            calls.append(lambda s=session, f=feed: s.run(None, f))
            names.append((stage_kind(graph.name), precision))
    medians = {clock: interleaved_medians(calls, reps, clock=fn)
               for clock, fn in (("cpu", time.thread_time), ("wall", time.perf_counter))}
    sums = {(kind, precision, clock): 0.0 for kind, precision in names for clock in medians}
    for clock, values in medians.items():
        for (kind, precision), ms in zip(names, values):
            sums[kind, precision, clock] += ms
    kinds = dict.fromkeys(kind for kind, _ in names)
    return [StageTiming(k, *(round(sums[k, p, c], 3) for c, p in (("cpu", "fp32"), ("cpu", "int8"),
                                                                  ("wall", "fp32"), ("wall", "int8"))))
            for k in kinds]


def choose_plan(model, ranges, candidates: list[str], config: CalibrateConfig, policy
                ) -> tuple[tuple[str, ...], dict]:
    """The candidate stages that together keep every check within the tolerance.

    Returns:
        (chosen stages, {"<stages>": {source: PrecisionAccuracy as dict}} for every set scored).
    """
    digest, flops = weights_digest(model), count_stage_flops(model)
    fp32 = FastDIRNet(model)
    reference = {spec: accuracy_figures(fp32, flops, spec, policy, config.limit, desc="fp32")[0]
                 for spec in config.check}

    def score(stages: tuple[str, ...]) -> tuple[float, dict]:
        engine = FastDIRNet(model, plan=Int8Plan(stages, ranges, digest))
        results = [compare_precisions(fp32, engine, flops, spec, policy, config.limit, reference[spec])
                   for spec in config.check]
        return max(r.worst for r in results), {r.source: asdict(r) for r in results}

    scored, alone = {}, {}
    for stage in candidates:
        alone[stage], scored[stage] = score((stage,))
    chosen: tuple[str, ...] = ()
    for stage in sorted(candidates, key=alone.get):
        trial = chosen + (stage,)
        worst, scored["+".join(trial)] = (alone[stage], scored[stage]) if len(trial) == 1 else score(trial)
        if worst <= config.tolerance:
            chosen = trial
    return chosen, scored


def run_calibration(config: CalibrateConfig, model: DIRNet, defaults: EstimatorDefaults
                    ) -> tuple[Int8Plan, Path]:
    """Calibrate, time, score and write the plan; returns it and where it was written.

    Args:
        config: the command's settings.
        model, defaults: the DIRNet of config.weights and its exit settings.
    Raises:
        FileNotFoundError, ValueError: unreadable or empty calibration or check data.
        OSError: the plan could not be written.
    """
    policy = ExitPolicy(defaults.exit_mode, defaults.tau_var, defaults.tau_gate,
                        min(defaults.max_loops, model.cfg.max_loops))
    source = open_source(parse_spec(config.data), model.cfg.input_res, config.n)
    crops = np.concatenate([b.images for b in source.batches(64)])
    images = images_to_tensor(crops).numpy()
    graphs = stage_graphs(model)
    ranges = calibrate(graphs, images)
    digest = weights_digest(model)
    quantized = Int8Plan(STAGE_KINDS, ranges, digest).apply(graphs)
    timings = stage_timings(graphs, quantized, stage_inputs(graphs, images[:1]), config.reps)
    candidates = [t.stage for t in timings if t.gain >= config.min_gain]
    stages, scored = choose_plan(model, ranges, candidates, config, policy) if candidates else ((), {})
    notes = {
        "made": time.strftime("%Y-%m-%d %H:%M"), "command": "python -m dirnet.runtime.calibrate",
        "calibration": {"data": config.data, "crops": len(images)},
        "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
               f"flags: {_simd_flags()}",
        "load_avg_1min": round(os.getloadavg()[0], 2),
        "timing_ms_batch1": [asdict(t) for t in timings], "min_gain": config.min_gain,
        "tolerance": config.tolerance, "accuracy": scored,
    }
    plan = Int8Plan(stages, {g: r for g, r in ranges.items() if stage_kind(g) in stages}, digest, notes)
    out = config.out or plan_path(config.weights or DEFAULT_WEIGHTS)
    plan.save(out)
    return plan, out


def summary(plan: Int8Plan) -> str:
    """The plan's measurements as plain-text lines (what the CLI prints)."""
    lines = [f"{'stage':10} {'fp32 CPU ms':>11} {'int8 CPU ms':>11} {'saved':>6}"]
    for t in plan.notes.get("timing_ms_batch1", []):
        t = StageTiming(**t)
        lines.append(f"{t.stage:10} {t.fp32_cpu:>11.3f} {t.int8_cpu:>11.3f} {100 * t.gain:>5.0f}%")
    for stages, sources in plan.notes.get("accuracy", {}).items():
        for source, result in sources.items():
            deltas = ", ".join(f"{k} {100 * v:+.2f}%" for k, v in result["delta"].items())
            lines.append(f"int8 {stages} on {result['n']} hands of {source}: {deltas}")
    return "\n".join(lines)


def _simd_flags() -> str:
    """The CPU's vector extensions that matter for int8 (Linux; "unknown" elsewhere)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split("flags")[1].split("\n")[0].split())
    except (OSError, IndexError):
        return "unknown"
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return " ".join(f for f in wanted if f in flags) or "none of avx2/avx512/vnni"


def _parse(argv: list[str] | None) -> CalibrateConfig:
    d = CalibrateConfig()
    p = argparse.ArgumentParser(prog="python -m dirnet.runtime.calibrate", description=__doc__.split("\n")[0])
    p.add_argument("--weights", type=Path, help="checkpoint stem (default: the shipped weights)")
    p.add_argument("--data", default=d.data, help="calibration crops, a dirnet.evaluation data spec")
    p.add_argument("--n", type=int, default=d.n, help="calibration crops used")
    p.add_argument("--check", nargs="+", default=list(d.check), help="labelled held-out data specs")
    p.add_argument("--limit", type=int, default=d.limit, help="hands per check source")
    p.add_argument("--tolerance", type=float, default=d.tolerance, help="relative error increase accepted")
    p.add_argument("--min-gain", type=float, default=d.min_gain, help="CPU-time share int8 must save")
    p.add_argument("--reps", type=int, default=d.reps, help="timed calls per stage and precision")
    p.add_argument("--out", type=Path, help="plan file (default: <weights stem>.int8.json)")
    a = p.parse_args(argv)
    if a.n < 1 or a.reps < 1 or (a.limit is not None and a.limit < 1):
        p.error("--n, --reps and --limit must be >= 1")
    return CalibrateConfig(a.weights, a.data, a.n, tuple(a.check), a.limit, a.tolerance, a.min_gain,
                           a.reps, a.out)


def main(argv: list[str] | None = None) -> int:
    config = _parse(argv)
    configure_logging()
    configure_threads(1)
    try:
        model, meta = load_checkpoint(config.weights or DEFAULT_WEIGHTS)
        defaults = EstimatorDefaults.from_dict(meta.get("defaults", {}))
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        plan, out = run_calibration(config, model, defaults)
    except (FileNotFoundError, ValueError, OSError) as exc:
        return fail(str(exc))
    print(summary(plan))
    print(f"int8 stages: {', '.join(plan.stages) or 'none'} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
