"""`python -m dirnet.evaluation.benchmark`: how well a checkpoint holds up on hands it has never seen.

    python -m dirnet.evaluation.benchmark --weights W [--data-root data] [--out DIR] [--limit N]
        [--precision auto|fp32|int8]

Scores one checkpoint on four groups of `python -m dirnet.evaluation` sources, most important first:

    held-out sources  people, rooms and cameras no training config names: the teacher crops of
                      `counting_wall` and `webcam_rooms`, and the ASL clip against its MediaPipe
                      landmarks (2D and 3D)
    held-out poses    the held-out handshapes of `sign_digits` and `asl_letters` (dirnet.data.splits):
                      sources the model saw, poses it did not
    synthetic         rendered test hands with exact labels
    in-domain         the 5% validation share of the training folders (secondary: files of the
                      same sources overstate quality)

A held-out source that the checkpoint's metadata says it trained on (through `init` too) is moved
to its own row, "trained on (not held out)", so no row claims more than it measures.

Real labels are MediaPipe's (agreement with the teacher, a fair yardstick while we are far above
its own ~6.7 px error). Per group: 2D error in crop-256 px (mean and median over hands), PA-MPJPE
in mm, at all loops and at the checkpoint's default gate, with the gate's GFLOPs saving. The data
comes from `python -m dirnet.data.teacher` (one folder per photo folder under DATA_ROOT/teacher)
and `python -m dirnet.data.synth --n 480 --out DATA_ROOT/synth/test128 --res 128 --seed 999`
(docs/MODEL_CARD.md). Writes DIR/benchmark.json, DIR/benchmark.md and DIR/benchmark.png.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..cli import EXIT_USAGE, configure_logging, fail, warn
from ..estimator import DEFAULT_WEIGHTS
from ..exit_policy import ExitPolicy
from ..io import atomic_write, write_text_atomic
from ..runtime.quantize import PRECISIONS
from ..weights import read_metadata
from .replay import collect, evaluate_table, sample_means
from .report import json_safe, open_checkpoint
from .sources import open_source, parse_spec

__all__ = ["BenchmarkConfig", "GroupResult", "asl_clip_spec", "benchmark_specs", "assign_groups",
           "checkpoint_trained_on", "seen_in_training", "run_benchmark", "main"]

ASL_CLIP = "../shared/data/asl_video/asl_hand.25fps.mp4"
GROUPS = ("held-out sources", "held-out poses", "synthetic", "in-domain")
# Where a held-out source goes when the checkpoint's training did see it after all.
TRAINED_ON = "trained on (not held out)"
HELD_OUT = GROUPS[:2]


@dataclass(frozen=True)
class BenchmarkConfig:
    """Arguments of one `python -m dirnet.evaluation.benchmark` run."""

    weights: Path
    data_root: Path = Path("data")
    asl_clip: Path = Path(ASL_CLIP)
    out: Path = Path("eval/benchmark")
    limit: int | None = None  # at most this many hands per source (quick looks)
    batch_size: int = 32
    precision: str = "auto"  # "fp32", "int8" or "auto" (int8 where the weights have an int8 plan)


@dataclass(frozen=True)
class GroupResult:
    """One group's hands pooled: 2D error in crop-256 px per hand (mean, median), PA-MPJPE mm
    (mean over hands with 3D labels), at all loops ("full") and at the default gate, and the 2D
    mean split by the side of the hand the camera sees."""

    group: str
    sources: tuple[str, ...]
    n: int
    err2d_mean: float
    err2d_median: float
    pa_mpjpe: float
    gate_err2d_mean: float
    gate_pa_mpjpe: float
    gate_loops: float
    gate_gflops_saving: float
    err2d_palm: float  # 2D mean, all loops, over the hands that show the camera their palm ...
    err2d_back: float  # ... and their back (dirnet.data.splits.hand_view)
    back_share: float
    swapped_share: float  # hands read from the wrong side (LoopTable.side_swapped)


def asl_clip_spec(clip: Path) -> str:
    """The `dirnet.evaluation` spec of the ASL clip with its MediaPipe landmarks (2D and 3D) beside it."""
    return f"video:{clip}:{clip.with_name('asl_hand.full.json')}:{clip.with_name('asl_hand_3d.full.json')}"


def benchmark_specs(cfg: BenchmarkConfig) -> dict[str, list[str]]:
    """The evaluation data specs (evaluation.sources) of every group."""
    teacher = cfg.data_root / "teacher"
    return {
        "held-out sources": [f"teacher:{teacher / 'counting_wall'}", f"teacher:{teacher / 'webcam_rooms'}",
                             asl_clip_spec(cfg.asl_clip)],
        "held-out poses": [f"teacher:{teacher / 'sign_digits'}:unseen",
                           f"teacher:{teacher / 'asl_letters'}:unseen"],
        "synthetic": [f"synth:{cfg.data_root / 'synth' / 'test128'}"],
        "in-domain": [f"teacher:{teacher / 'gesture_lab'}:val", f"teacher:{teacher / 'finger_count'}:val",
                      f"teacher:{teacher / 'sign_digits'}:seen:val",
                      f"teacher:{teacher / 'asl_letters'}:seen:val"],
    }


def seen_in_training(spec, trained_on: list[dict]) -> bool:
    """True when a training source covers the spec's photos: the same folder name, and either
    all its handshapes or the same pose split."""
    return any(t.get("kind") == spec.kind and Path(t.get("path", "")).name == spec.path.name
               and t.get("poses", "") in ("", spec.poses) for t in trained_on)


def checkpoint_trained_on(meta: dict) -> list[dict]:
    """The sources a checkpoint's metadata says it trained on (dirnet.training.loop.trained_on)."""
    training = meta.get("training", {})
    return training.get("trained_on") or training.get("config", {}).get("sources", [])


def assign_groups(specs: dict[str, list[str]], trained_on: list[dict]) -> dict[str, list[str]]:
    """The groups with every held-out spec the checkpoint trained on moved to TRAINED_ON."""
    out: dict[str, list[str]] = {group: [] for group in specs}
    for group, texts in specs.items():
        for text in texts:
            spec = parse_spec(text)
            moved = group in HELD_OUT and spec.kind != "video" and seen_in_training(spec, trained_on)
            out.setdefault(TRAINED_ON, []).append(text) if moved else out[group].append(text)
    return out


def _mean(values: list[np.ndarray]) -> float:
    pooled = np.concatenate(values)
    pooled = pooled[np.isfinite(pooled)]
    return float(pooled.mean()) if pooled.size else float("nan")


def _view_split(hands: np.ndarray, view: np.ndarray, swapped: np.ndarray) -> dict[str, float]:
    """2D mean per side of the hand seen, the back share and the side-swapped share of the back views."""
    back = view == "back"
    return {"err2d_palm": _mean([hands[view == "palm"]]), "err2d_back": _mean([hands[back]]),
            "back_share": float(back.mean()), "back_swapped_share": float(swapped[back].mean()) if back.any()
            else float("nan")}


def run_benchmark(cfg: BenchmarkConfig) -> tuple[list[GroupResult], dict, list[str]]:
    """Evaluate cfg.weights on every group.

    Returns:
        (one GroupResult per group that had data, per-source headline numbers, problem lines).
    Raises:
        FileNotFoundError, ValueError: an unreadable checkpoint.
    """
    ckpt = open_checkpoint(cfg.weights, precision=cfg.precision)
    model, defaults = ckpt.model, ckpt.defaults
    groups = assign_groups(benchmark_specs(cfg), checkpoint_trained_on(read_metadata(cfg.weights)))
    policy = ExitPolicy(exit_mode="none", max_loops=model.cfg.max_loops, tau_var=defaults.tau_var,
                        tau_gate=defaults.tau_gate)
    full_key = f"loops_{model.cfg.max_loops}"
    results, per_source, problems = [], {}, []
    for group, specs in groups.items():
        names, err2d, err2d_gate, pa, pa_gate, views, swaps, loops, gflops, full_gflops = (
            [] for _ in range(10))
        for text in specs:
            try:
                spec = parse_spec(text)
                source = open_source(spec, model.cfg.input_res, cfg.limit)
                table = collect(ckpt.runner, source, cfg.batch_size, desc=f"{group}: {spec.name}")
            except (FileNotFoundError, ValueError, OSError) as exc:
                problems.append(f"{group}: {text}: {exc}")
                continue
            problems += [f"{spec.name}: {line}" for line in source.problems]
            report = evaluate_table(spec.name, table, ckpt.stage, policy, ("gate",))
            full, gate = report.chosen[full_key], report.chosen["gate"]
            names.append(spec.name)
            err2d.append(sample_means(full.crop256))
            views.append(table.views())
            swaps.append(table.side_swapped())
            err2d_gate.append(sample_means(gate.crop256))
            pa.append(sample_means(full.pa))
            pa_gate.append(sample_means(gate.pa))
            n = report.policies["gate"].n
            loops.append(report.policies["gate"].mean_loops * n)
            gflops.append(report.policies["gate"].mean_gflops * n)
            full_gflops.append(report.policies[full_key].mean_gflops * n)
            per_source[spec.name] = {"group": group, "full": report.policies[full_key].to_dict(),
                                     "gate": report.policies["gate"].to_dict(),
                                     "views": _view_split(err2d[-1], views[-1], swaps[-1])}
        if not names:
            continue
        hands, view = np.concatenate(err2d), np.concatenate(views)
        count = int(np.isfinite(hands).sum())
        results.append(GroupResult(
            group, tuple(names), count, _mean(err2d), float(np.nanmedian(hands)), _mean(pa),
            _mean(err2d_gate), _mean(pa_gate), sum(loops) / len(hands),
            1.0 - sum(gflops) / sum(full_gflops), _mean([hands[view == "palm"]]),
            _mean([hands[view == "back"]]), float(np.mean(view == "back")),
            float(np.mean(np.concatenate(swaps)))))
    return results, per_source, problems


def markdown_table(results: list[GroupResult]) -> str:
    """The groups as a Markdown table (the form docs/MODEL_CARD.md quotes)."""
    lines = ["| group | hands | 2D mean / median, all loops | PA-MPJPE, all loops | "
             "2D / PA-MPJPE at the gate | gate loops | GFLOPs saved | 2D mean palm / back (back share) | side swapped |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r.group} | {r.n} | {r.err2d_mean:.2f} / {r.err2d_median:.2f} px | "
                     f"{r.pa_mpjpe:.2f} mm | {r.gate_err2d_mean:.2f} px / {r.gate_pa_mpjpe:.2f} mm | "
                     f"{r.gate_loops:.2f} | {100 * r.gate_gflops_saving:.1f}% | "
                     f"{r.err2d_palm:.2f} / {r.err2d_back:.2f} px ({100 * r.back_share:.0f}%) | "
                     f"{100 * r.swapped_share:.1f}% |")
    return "\n".join(lines) + "\n"


def plot_groups(results: list[GroupResult], path: Path, title: str) -> None:
    """Bar chart of each group's 2D error (mean and median) and PA-MPJPE."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax2d, ax3d) = plt.subplots(1, 2, figsize=(11, 3.8))
    x = np.arange(len(results))
    ax2d.bar(x - 0.2, [r.err2d_mean for r in results], 0.4, label="mean")
    ax2d.bar(x + 0.2, [r.err2d_median for r in results], 0.4, label="median")
    ax2d.set_ylabel("2D error, px of a 256 px crop")
    ax2d.legend()
    ax3d.bar(x, [r.pa_mpjpe for r in results], 0.5, color="tab:green")
    ax3d.set_ylabel("PA-MPJPE, mm")
    for ax in (ax2d, ax3d):
        ax.set_xticks(x, [r.group for r in results], rotation=15)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dirnet.evaluation.benchmark",
                                description="Generalisation benchmark: held-out sources, held-out poses, "
                                            "synthetic, in-domain.")
    p.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, help="default: the shipped model")
    p.add_argument("--data-root", type=Path, default=Path("data"),
                   help="folder holding teacher/<photo folder> and synth/test128")
    p.add_argument("--asl-clip", type=Path, default=Path(ASL_CLIP))
    p.add_argument("--out", type=Path, default=Path("eval/benchmark"))
    p.add_argument("--limit", type=int, default=None, help="at most this many hands per source")
    p.add_argument("--batch-size", type=int, default=BenchmarkConfig.batch_size)
    p.add_argument("--precision", choices=PRECISIONS, default=BenchmarkConfig.precision,
                   help="auto: int8 where the weights have an int8 plan (dirnet.runtime.calibrate)")
    cfg = BenchmarkConfig(**vars(p.parse_args(argv)))
    configure_logging()
    try:
        results, per_source, problems = run_benchmark(cfg)
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    warn(*problems)
    if not results:
        return fail("no benchmark source could be read (see the warnings above)")
    table = markdown_table(results)
    print(f"\n{cfg.weights} (precision {cfg.precision})\n{table}")
    cfg.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(cfg.out / "benchmark.md", f"`{cfg.weights}` (precision {cfg.precision})\n\n{table}")
    write_text_atomic(cfg.out / "benchmark.json", json.dumps(json_safe(
        {"weights": str(cfg.weights), "precision": cfg.precision, "groups": [asdict(r) for r in results],
         "sources": per_source}),
        indent=1, allow_nan=False) + "\n")
    plot_groups(results, cfg.out / "benchmark.png", str(cfg.weights))
    return 0


if __name__ == "__main__":
    sys.exit(main())
