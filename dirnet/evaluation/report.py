"""One evaluation run: every checkpoint on every source, the metrics.json and figures it writes and
the tables it prints (what `python -m dirnet.evaluation` does).

Every sample is cropped around its labelled 2D joints (dirnet.crop, margin DEFAULT_MARGIN, left
hands mirrored in and their results mirrored out) and scored by exit replay (evaluation.replay).
Writes DIR/metrics.json and per source DIR/<source>_tradeoff.png (paper Fig. 7),
DIR/<source>_loops.png (Fig. 8) and DIR/<source>_pck.png (3D PCK, Fig. 5).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..estimator import EstimatorDefaults
from ..exit_policy import EXIT_MODES, ExitPolicy
from ..flops import StageFlops, count_stage_flops
from ..io import write_text_atomic
from ..models.dirnet import DIRNet
from ..models.staged import StagedModel
from ..runtime.quantize import load_plan
from ..weights import load_checkpoint
from . import plots
from .baseline import BASELINE_RES, BaselineReport, compare_on_found, mediapipe_errors
from .replay import SourceReport, collect, evaluate_table, fast_model
from .sources import DataSpec, open_source, parse_spec

__all__ = ["EvalConfig", "Checkpoint", "open_checkpoint", "evaluate", "print_table", "print_baseline",
           "json_safe", "write_json"]


@dataclass(frozen=True)
class EvalConfig:
    """Arguments of one `python -m dirnet.evaluation` run."""

    weights: Path
    data: tuple[str, ...]
    out: Path = Path("eval")
    exit_modes: tuple[str, ...] = EXIT_MODES
    tau_var: float | None = None  # None: the checkpoint's default
    tau_gate: float | None = None
    compare: Path | None = None
    fast: bool = True  # run on dirnet.runtime's fast path when it is installed
    batch_size: int = 32
    limit: int | None = None  # evaluate at most this many samples per source
    mediapipe: bool = False  # also score MediaPipe Hands on the same crops (evaluation.baseline)
    precision: str = "auto"  # "fp32", "int8" or "auto" (int8 where the weights have an int8 plan)


@dataclass
class Checkpoint:
    """A checkpoint ready to evaluate.

    runner: what `collect` runs (the model or its fast path). model: the DIRNet.
    defaults: its exit settings. stage: its FLOPs per stage.
    """

    runner: StagedModel
    model: DIRNet
    defaults: EstimatorDefaults
    stage: StageFlops


def open_checkpoint(path: str | Path, fast: bool = True, precision: str = "auto") -> Checkpoint:
    """Load a checkpoint for evaluation, on the fast path when `fast`.

    precision: as Estimator.from_pretrained's; "int8" needs the fast path.

    Raises:
        FileNotFoundError, ValueError: a missing or unreadable checkpoint, an unknown precision, or
            "int8" without a plan for these weights or without the fast path.
    """
    model, meta = load_checkpoint(path)
    defaults = EstimatorDefaults.from_dict(meta.get("defaults", {}))
    if not fast and precision == "int8":
        raise ValueError("int8 runs on the fast path (drop --eager)")
    runner = fast_model(model, load_plan(precision, path, model)) if fast else model
    return Checkpoint(runner, model, defaults, count_stage_flops(model))


def evaluate(cfg: EvalConfig) -> tuple[dict, list[str]]:
    """Evaluate cfg.weights (and cfg.compare) on every source; write JSON and PNGs to cfg.out.

    Returns:
        (metrics dict as written to metrics.json, one line per source or sample that was skipped).
    Raises:
        FileNotFoundError, ValueError: unreadable checkpoints.
    """
    checkpoints = {"main": cfg.weights} if cfg.compare is None else {"main": cfg.weights,
                                                                     "compare": cfg.compare}
    loaded = {k: open_checkpoint(p, cfg.fast, cfg.precision) for k, p in checkpoints.items()}
    labels = {k: Path(p).stem for k, p in checkpoints.items()}
    if cfg.compare is not None and labels["main"] == labels["compare"]:  # e.g. two runs' final.*
        labels = {k: f"{Path(p).parent.name}/{Path(p).stem}" for k, p in checkpoints.items()}
    cfg.out.mkdir(parents=True, exist_ok=True)
    result: dict = {"weights": {k: str(p) for k, p in checkpoints.items()}, "sources": {}}
    errors: list[str] = []
    for text in cfg.data:
        try:
            spec = parse_spec(text)
            reports = {}
            for key, ckpt in loaded.items():
                source = open_source(spec, ckpt.model.cfg.input_res, cfg.limit)
                table = collect(ckpt.runner, source, cfg.batch_size, desc=f"{spec.name} [{labels[key]}]")
                d = ckpt.defaults
                policy = ExitPolicy(exit_mode="none", max_loops=ckpt.model.cfg.max_loops,
                                    tau_var=d.tau_var if cfg.tau_var is None else cfg.tau_var,
                                    tau_gate=d.tau_gate if cfg.tau_gate is None else cfg.tau_gate)
                reports[key] = evaluate_table(spec.name, table, ckpt.stage, policy, cfg.exit_modes)
                for line in source.problems:
                    errors.append(f"{spec.name}: {line}")
        except (FileNotFoundError, ValueError, OSError) as exc:
            errors.append(f"{text}: {exc}")
            continue
        result["sources"][spec.name] = {key: {"label": labels[key], **r.to_dict()}
                                        for key, r in reports.items()}
        print_table(reports["main"], labels["main"])
        if cfg.mediapipe:
            baseline = _baseline(spec, reports["main"], cfg.limit)
            result["sources"][spec.name]["mediapipe"] = baseline.to_dict()
            print_baseline(baseline)
        stem = cfg.out / spec.name
        named = {labels[k]: r for k, r in reports.items()}
        plots.plot_tradeoff(named, stem.with_name(stem.name + "_tradeoff.png"), title=spec.name)
        plots.plot_loop_errors({k: r.per_loop for k, r in named.items()},
                               stem.with_name(stem.name + "_loops.png"), title=spec.name)
        plots.plot_pck(reports["main"].chosen, stem.with_name(stem.name + "_pck.png"),
                       title=f"{spec.name} [{labels['main']}]")
    write_json(cfg.out / "metrics.json", result)
    return result, errors


_COLUMNS = (("n", "n", "{:d}"), ("err2d_px_mean", "2D px", "{:.2f}"), ("err2d_mean", "2D c256", "{:.2f}"),
            ("auc2d_0_50", "AUC2D", "{:.3f}"), ("mpjpe", "MPJPE", "{:.2f}"), ("pa_mpjpe", "PA-MPJPE", "{:.2f}"),
            ("auc3d_0_50", "AUC 0-50", "{:.3f}"), ("auc3d_20_50", "AUC 20-50", "{:.3f}"),
            ("mean_loops", "loops", "{:.2f}"), ("mean_gflops", "GFLOPs", "{:.3f}"))


def _baseline(spec: DataSpec, report: SourceReport, limit: int | None) -> BaselineReport:
    """MediaPipe on the source's crops against the main checkpoint at max loops and each exit mode."""
    mp_errors, found = mediapipe_errors(open_source(spec, BASELINE_RES, limit))
    fixed = [k for k in report.chosen if k.startswith("loops_")]  # loops_1 .. loops_max, in order
    keys = fixed[-1:] + [k for k in report.chosen if k not in fixed]
    return compare_on_found(mp_errors, found, {k: report.chosen[k] for k in keys})


def print_baseline(report: BaselineReport) -> None:
    """MediaPipe's row and DIR-Net's on the same crops."""
    print(f"MediaPipe Hands (full) found a hand in {report.found}/{report.n} crops; on those:")
    for name, s in [("mediapipe", report.mediapipe), *report.dirnet.items()]:
        print(f"  {name:12} 2D c256 {s.err2d_mean:7.2f}  MPJPE {s.mpjpe:7.2f}  PA-MPJPE {s.pa_mpjpe:7.2f}")


def print_table(report: SourceReport, label: str) -> None:
    """The headline rows of one report on stdout."""
    print(f"\n{report.name} [{label}]  (2D px: source image; c256: crop-256 px; 3D in mm)")
    print(f"{'policy':12}" + "".join(f"{title:>10}" for _, title, _ in _COLUMNS))
    for name, s in report.policies.items():
        values = asdict(s)
        print(f"{name:12}" + "".join(f"{fmt.format(values[key]):>10}" for key, _, fmt in _COLUMNS))
    for mode, saving in report.savings.items():
        print(f"{mode}: saves {100 * saving['gflops_saving']:.1f}% GFLOPs vs max loops; error change "
              f"2D {100 * saving['err2d_increase']:+.1f}%, MPJPE {100 * saving['mpjpe_increase']:+.1f}%, "
              f"PA-MPJPE {100 * saving['pa_mpjpe_increase']:+.1f}%")


def json_safe(value):
    """NaN and infinities become null: strict JSON has no such numbers."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_json(path: Path, data: dict) -> None:
    """`data` as strict JSON (json_safe), written atomically."""
    write_text_atomic(path, json.dumps(json_safe(data), indent=1, allow_nan=False) + "\n")
