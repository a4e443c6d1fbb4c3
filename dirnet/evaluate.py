"""`python -m dirnet.evaluate`: accuracy and cost of DIR-Net checkpoints for every exit policy.

    python -m dirnet.evaluate --weights W --data SPEC [--data SPEC ...] [--out DIR]
        [--exit MODE ...] [--tau-var F] [--tau-gate F] [--compare W2] [--limit N]

SPEC names a labelled source:
    synth:DIR       renders written by `python -m dirnet.data.synth` (exact 2D + 3D labels)
    teacher:DIR     a `python -m dirnet.data.teacher` dataset (2D + 3D agreement with MediaPipe)
    NAME:DIR        a public dataset by reader name (freihand, stb, rhd, fpha, panoptic)
    ...:DIR:val[=F] / ...:DIR:train[=F]   only the held-out (or the training) share of a folder
                    source, split as dirnet.train does (hash of the file name; F defaults to
                    TrainConfig.val_fraction)
    video:CLIP:REF2D[:REF3D][:left|right]
                    a video with per-frame reference landmarks: REF2D a JSON list of 21 [x_px, y_px, ...]
                    per frame, REF3D (optional) 21 world landmarks [x, y, z] in metres per frame; the
                    hand is the person's left or right (default: MediaPipe's classifier decides)

Every sample is cropped around its labelled 2D joints (dirnet.crop, margin DEFAULT_MARGIN, left
hands mirrored in and their results mirrored out). The model runs ALL loops once per sample; every
exit policy's result is then replayed from the per-loop outputs, gate logits and variances with
`dirnet.exits.exit_loops` (the rule `run_with_exits` applies), so sweeping tau_var and tau_gate
costs no extra inference. Writes DIR/metrics.json and per source DIR/<source>_tradeoff.png (paper
Fig. 7), DIR/<source>_loops.png (Fig. 8) and DIR/<source>_pck.png (3D PCK, Fig. 5).
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .baseline import BASELINE_RES, BaselineReport, compare_on_found, mediapipe_errors
from .estimator import EstimatorDefaults
from .eval_data import DataSpec, EvalSource, open_source, parse_spec
from .exits import EXIT_MODES, ExitPolicy, exit_loops, mean_variance
from .flops import StageFlops, count_stage_flops
from .metrics import EvalSummary, JointErrors, joint_errors, summarize_errors
from .models.dirnet import DIRNet, LoopOutput
from .weights import load_checkpoint
from .io import write_text_atomic

__all__ = ["LoopTable", "SourceReport", "EvalConfig", "fast_model", "forward_loops", "collect",
           "policy_gflops", "policy_summary", "sample_means", "evaluate_table", "evaluate", "main"]

log = logging.getLogger(__name__)

# tau_gate values swept for Fig. 7 (log-spaced; 1 is the trained default).
TAU_GATE_SWEEP = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
# tau_var values are quantiles of the per-loop mean variances, so the sweep spans every exit rate.
TAU_VAR_QUANTILES = np.linspace(0.0, 1.0, 15)
def fast_model(model: DIRNet, plan=None):
    """The fast inference path (dirnet.runtime.FastDIRNet: folded BatchNorms in ONNX Runtime, the
    stages of an Int8Plan `plan` in int8) when it is installed, else `model` itself; both serve
    forward_loops and run_with_exits alike."""
    try:
        from .runtime import FastDIRNet
    except ImportError:
        return model
    return FastDIRNet(model, threads=torch.get_num_threads(), plan=plan)


@torch.no_grad()
def forward_loops(model, images: torch.Tensor, with_features: bool = False
                  ) -> tuple[list[LoopOutput], list[torch.Tensor] | None]:
    """All refiner passes for the whole batch, as DIRNet.forward, plus the gate's input features.

    Args:
        model: a DIRNet in eval mode, or its FastDIRNet (see `fast_model`).
        images: (B, 3, R, R) float RGB in [0, 1].
        with_features: also return f = Psi_var1(h) per loop, the gate's input (Sec. 4.2).
    Returns:
        (one LoopOutput per loop, one (B, fc_dim) feature tensor per loop or None).
    """
    net = getattr(model, "source", model)  # FastDIRNet keeps its DIRNet as .source
    features = model.forward_features(images)
    outputs, feats, attention = [], [], None
    for loop in range(model.cfg.max_loops):
        refined = model.forward_refine(features, loop, attention)
        outputs.append(model.forward_head(refined))
        if with_features:
            feats.append(net.var_head.var1(net.summarize(refined)))
        if loop + 1 < model.cfg.max_loops:
            attention = model.attention(refined)
    return outputs, (feats if with_features else None)


@dataclass
class LoopTable:
    """Per-loop outputs of N samples and their labels; L = the model's max_loops.

    joints2d: (L, N, 21, 2) source-image px. joints3d: (L, N, 21, 3) mm, wrist-relative camera
    axes of the true hand (left hands mirrored back). mean_var: (L, N) float32 mean sigma^2 (the
    variance exit's statistic). gate_logits: (L, N, 2) float32 (EXIT, CONTINUE). features:
    (L, N, fc_dim) float32 gate inputs, or None. gt2d: (N, 21, 2) source px, NaN where unlabelled.
    gt3d: (N, 21, 3) mm wrist-relative, NaN where unlabelled. crop256: (N,) source px -> crop-256 px.
    """

    joints2d: np.ndarray
    joints3d: np.ndarray
    mean_var: np.ndarray
    gate_logits: np.ndarray
    features: np.ndarray | None
    gt2d: np.ndarray
    gt3d: np.ndarray
    crop256: np.ndarray

    @property
    def num_loops(self) -> int:
        return self.joints2d.shape[0]

    def __len__(self) -> int:
        return self.joints2d.shape[1]

    def errors(self) -> JointErrors:
        """Per-loop per-joint errors, each (L, N, 21)."""
        per_loop = [joint_errors(self.joints2d[l], self.gt2d, self.joints3d[l], self.gt3d,
                                 crop256_scale=self.crop256) for l in range(self.num_loops)]
        return JointErrors(*(np.stack([getattr(e, k) for e in per_loop])
                             for k in ("px", "crop256", "mm", "pa")))


def collect(model, source: EvalSource, batch_size: int = 32, with_features: bool = False,
            desc: str = "evaluate") -> LoopTable:
    """Run every loop of `model` (a DIRNet or FastDIRNet) once on every sample of `source` (tqdm).

    Raises:
        ValueError: the source yields no sample.
    """
    parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                          ("j2d", "j3d", "var", "gate", "feat", "gt2d", "gt3d", "s")}
    device = next(getattr(model, "source", model).parameters()).device
    with tqdm(total=len(source), desc=desc, unit="img", disable=None) as bar:
        for batch in source.batches(batch_size):
            images = torch.from_numpy(batch.images).to(device).permute(0, 3, 1, 2).float().div_(255.0)
            outputs, feats = forward_loops(model, images, with_features)
            # Network-input px -> source px (undoes the crop and any mirroring); mirror 3D back out.
            j2d = np.stack([o.joints2d.cpu().double().numpy() for o in outputs])
            linear, offset = batch.to_source[:, :, :2], batch.to_source[:, :, 2]
            parts["j2d"].append(np.einsum("bij,lbkj->lbki", linear, j2d) + offset[None, :, None, :])
            j3d = np.stack([o.joints3d.cpu().double().numpy() for o in outputs])
            j3d[..., 0] *= np.where(batch.left, -1.0, 1.0)[None, :, None]
            parts["j3d"].append(j3d)
            parts["var"].append(np.stack([mean_variance(o).cpu().numpy() for o in outputs]))
            parts["gate"].append(np.stack([o.gate_logits.cpu().numpy() for o in outputs]))
            if feats is not None:
                parts["feat"].append(np.stack([f.cpu().numpy() for f in feats]))
            parts["gt2d"].append(batch.gt2d)
            parts["gt3d"].append(batch.gt3d)
            parts["s"].append(batch.crop256)
            bar.update(len(batch.left))
    if not parts["s"]:
        raise ValueError(f"{source.name}: no usable sample")
    cat = {k: np.concatenate(v, axis=0 if k in ("gt2d", "gt3d", "s") else 1) if v else None
           for k, v in parts.items()}
    return LoopTable(cat["j2d"], cat["j3d"], cat["var"], cat["gate"], cat["feat"], cat["gt2d"],
                     cat["gt3d"], cat["s"])


def policy_gflops(stage: StageFlops, loops: np.ndarray, mode: str) -> np.ndarray:
    """(N,) GFLOPs per sample for its loop count, as StageFlops.gflops (gate cost only in gate mode)."""
    costs = np.array([stage.gflops(k, gate=mode == "gate") for k in range(1, int(loops.max()) + 1)])
    return costs[loops - 1]


@dataclass
class SourceReport:
    """One checkpoint on one source.

    policy: the headline thresholds (tau_var, tau_gate, max_loops) used for the mode rows.
    policies: "loops_1".."loops_L" (fixed loop counts) and each requested exit mode at its tau.
    sweeps: "variance" -> [(tau_var, summary)], "gate" -> [(tau_gate, summary)].
    per_loop: "err2d" (L, N) per-sample mean crop-256 px error after each loop count, "err3d" (L, N)
        per-sample MPJPE mm, "pa" (L, N) per-sample PA-MPJPE mm.
    savings: per exit mode, GFLOPs saved and relative error increase against max loops.
    """

    name: str
    policy: ExitPolicy
    policies: dict[str, EvalSummary]
    sweeps: dict[str, list[tuple[float, EvalSummary]]]
    per_loop: dict[str, np.ndarray]
    savings: dict[str, dict[str, float]]
    chosen: dict[str, JointErrors] = field(default_factory=dict)  # policy -> (N, 21), for PCK plots

    def to_dict(self) -> dict:
        with warnings.catch_warnings():  # a source without 3D labels has all-NaN 3D rows
            warnings.simplefilter("ignore", RuntimeWarning)
            medians = {k: np.nanmedian(v, axis=1).tolist() for k, v in self.per_loop.items()}
        return {
            "tau_var": self.policy.tau_var, "tau_gate": self.policy.tau_gate,
            "max_loops": self.policy.max_loops,
            "policies": {k: v.to_dict() for k, v in self.policies.items()},
            "sweeps": {k: [{"tau": t, **s.to_dict()} for t, s in v] for k, v in self.sweeps.items()},
            "per_loop_median": medians,
            "savings": self.savings,
        }


def policy_summary(table: LoopTable, errors: JointErrors, stage: StageFlops, policy: ExitPolicy
                   ) -> tuple[EvalSummary, JointErrors]:
    """EvalSummary of one exit policy and the (N, 21) errors of the joints it returns.

    Args:
        table: collected outputs. errors: table.errors(), (L, N, 21). stage: the model's FLOPs.
        policy: a deterministic exit policy.
    """
    loops = exit_loops(policy, table.mean_var, table.gate_logits)
    chosen = errors.take(loops - 1)
    return summarize_errors(chosen, loops, policy_gflops(stage, loops, policy.mode)), chosen


def sample_means(errors: np.ndarray) -> np.ndarray:
    """Mean over the last (joint) axis ignoring NaN; NaN for unlabelled samples, without warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(errors, -1)


def _relative(a: float, b: float) -> float:
    return float(a / b - 1.0) if np.isfinite(a) and np.isfinite(b) and b > 0 else float("nan")


def evaluate_table(name: str, table: LoopTable, stage: StageFlops, policy: ExitPolicy,
                   modes: tuple[str, ...] = EXIT_MODES) -> SourceReport:
    """Every policy, both sweeps and the per-loop error distributions from one LoopTable.

    Args:
        name: the source's name.
        table: collected outputs.
        stage: FLOPs of the model's stages.
        policy: thresholds for the headline rows (tau_var, tau_gate, max_loops).
        modes: exit modes reported as headline rows.
    """
    errors = table.errors()
    max_loops = min(policy.max_loops, table.num_loops)
    policies, chosen = {}, {}
    for k in range(1, max_loops + 1):
        policies[f"loops_{k}"], chosen[f"loops_{k}"] = policy_summary(
            table, errors, stage, replace(policy, mode="none", max_loops=k))
    for mode in modes:
        policies[mode], chosen[mode] = policy_summary(table, errors, stage, replace(policy, mode=mode))
    variances = table.mean_var[:max(max_loops - 1, 1)].ravel()
    taus_var = sorted(set(np.quantile(variances, TAU_VAR_QUANTILES).astype(float) * (1 + 1e-6))
                      | {policy.tau_var})
    sweeps = {
        "variance": [(t, policy_summary(table, errors, stage, replace(policy, mode="variance", tau_var=t))[0])
                     for t in taus_var],
        "gate": [(t, policy_summary(table, errors, stage, replace(policy, mode="gate", tau_gate=t))[0])
                 for t in sorted(set(TAU_GATE_SWEEP) | {policy.tau_gate})],
    }
    full = policies[f"loops_{max_loops}"]
    savings = {mode: {"gflops_saving": 1.0 - policies[mode].mean_gflops / full.mean_gflops,
                      "err2d_increase": _relative(policies[mode].err2d_mean, full.err2d_mean),
                      "mpjpe_increase": _relative(policies[mode].mpjpe, full.mpjpe),
                      "pa_mpjpe_increase": _relative(policies[mode].pa_mpjpe, full.pa_mpjpe)}
               for mode in modes if mode != "none"}
    per_loop = {"err2d": sample_means(errors.crop256), "err3d": sample_means(errors.mm),
                "pa": sample_means(errors.pa)}
    return SourceReport(name, policy, policies, sweeps, per_loop, savings, chosen)


@dataclass(frozen=True)
class EvalConfig:
    """Arguments of one `python -m dirnet.evaluate` run."""

    weights: Path
    data: tuple[str, ...]
    out: Path = Path("eval")
    modes: tuple[str, ...] = EXIT_MODES
    tau_var: float | None = None  # None: the checkpoint's default
    tau_gate: float | None = None
    compare: Path | None = None
    fast: bool = True  # run on dirnet.runtime's fast path when it is installed
    batch_size: int = 32
    limit: int | None = None  # evaluate at most this many samples per source
    mediapipe: bool = False  # also score MediaPipe Hands on the same crops (dirnet.baseline)
    precision: str = "auto"  # "fp32", "int8" or "auto" (int8 where the weights have an int8 plan)


def _load(path: Path, fast: bool, precision: str = "auto") -> tuple:
    """(runner for collect, its DIRNet, exit defaults, stage FLOPs) of a checkpoint.

    precision: as Estimator.from_pretrained's; "int8" needs the fast path.
    """
    model, meta = load_checkpoint(path)
    defaults = EstimatorDefaults(**meta.get("defaults", {}))
    if not fast:
        if precision == "int8":
            raise ValueError("int8 runs on the fast path (drop --eager)")
        return model, model, defaults, count_stage_flops(model)
    from .runtime import load_plan
    return fast_model(model, load_plan(precision, path, model)), model, defaults, count_stage_flops(model)


def evaluate(cfg: EvalConfig) -> tuple[dict, list[str]]:
    """Evaluate cfg.weights (and cfg.compare) on every source; write JSON and PNGs to cfg.out.

    Returns:
        (metrics dict as written to metrics.json, one error line per source that failed).
    Raises:
        FileNotFoundError, ValueError: unreadable checkpoints.
    """
    from . import plots

    checkpoints = {"main": cfg.weights} if cfg.compare is None else {"main": cfg.weights,
                                                                     "compare": cfg.compare}
    loaded = {k: _load(p, cfg.fast, cfg.precision) for k, p in checkpoints.items()}
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
            for key, (runner, model, defaults, stage) in loaded.items():
                source = open_source(spec, model.cfg.input_res, cfg.limit)
                table = collect(runner, source, cfg.batch_size, desc=f"{spec.name} [{labels[key]}]")
                policy = ExitPolicy(mode="none", max_loops=model.cfg.max_loops,
                                    tau_var=defaults.tau_var if cfg.tau_var is None else cfg.tau_var,
                                    tau_gate=defaults.tau_gate if cfg.tau_gate is None else cfg.tau_gate)
                reports[key] = evaluate_table(spec.name, table, stage, policy, cfg.modes)
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
    _write_json(cfg.out / "metrics.json", result)
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


def _json_safe(value):
    """NaN and infinities become null: strict JSON has no such numbers."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _write_json(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(_json_safe(data), indent=1, allow_nan=False) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dirnet.evaluate",
                                description="Evaluate DIR-Net checkpoints per exit policy (paper Figs. 7-8).")
    p.add_argument("--weights", type=Path, required=True, help="checkpoint (stem, .safetensors or .json)")
    p.add_argument("--data", action="append", required=True, metavar="SPEC",
                   help="synth:DIR | teacher:DIR | freihand:DIR (etc.), each with an optional :val or :train "
                        "split | video:CLIP:REF2D[:REF3D][:left|right]")
    p.add_argument("--out", type=Path, default=Path("eval"), help="folder for metrics.json and PNGs")
    p.add_argument("--exit", nargs="+", choices=EXIT_MODES, default=list(EXIT_MODES),
                   help="exit modes to report (default: all)")
    p.add_argument("--tau-var", type=float, default=None, help="default: the checkpoint's")
    p.add_argument("--tau-gate", type=float, default=None, help="default: the checkpoint's")
    p.add_argument("--compare", type=Path, default=None, help="second checkpoint drawn on the same figures")
    p.add_argument("--eager", action="store_true", help="plain PyTorch instead of the fast path")
    p.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto",
                   help="fast path precision (auto: int8 where the weights have an int8 plan)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--limit", type=int, default=None, help="at most this many samples per source")
    p.add_argument("--mediapipe", action="store_true",
                   help="also score MediaPipe Hands (full) on the same crops, for labels that are not its own")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    cfg = EvalConfig(a.weights, tuple(a.data), a.out, tuple(a.exit), a.tau_var, a.tau_gate, a.compare,
                     not a.eager, a.batch_size, a.limit, a.mediapipe, a.precision)
    try:
        result, errors = evaluate(cfg)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    done = len(result["sources"])
    print(f"\nevaluated {done} of {len(cfg.data)} sources; wrote {cfg.out / 'metrics.json'}", file=sys.stderr)
    return 0 if done else 1


if __name__ == "__main__":
    sys.exit(main())
