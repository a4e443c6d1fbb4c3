"""Figures of `python -m dirnet.evaluation`: accuracy vs GFLOPs (paper Fig. 7), per-loop error
distributions (Fig. 8) and PCK curves (Fig. 5). Matplotlib with the Agg backend, PNG files.

Inputs are plain mappings of EvalSummary / arrays so the figures do not depend on how they were
computed. Several checkpoints (e.g. progressive vs end-to-end training) share one figure: colour
names the exit rule, line style and marker name the checkpoint.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from ..io import atomic_write  # noqa: E402
from .metrics import FPHA_RANGE, JointErrors, pck_curve  # noqa: E402

__all__ = ["TRADEOFF_METRICS", "plot_tradeoff", "plot_loop_errors", "plot_pck"]

# (EvalSummary field, axis label) of the accuracy-vs-GFLOPs panels.
TRADEOFF_METRICS = (("auc3d_0_50", "3D AUC 0-50 mm (higher is better)"),
                    ("pa_mpjpe", "PA-MPJPE, mm"),
                    ("err2d_mean", "2D error, crop-256 px"))
_STYLES = ("-", "--", ":", "-.")
_MARKERS = ("o", "s", "^", "D")
_COLOURS = {"loops": "0.3", "variance": "tab:blue", "gate": "tab:red"}


def _save(fig, path: Path) -> None:
    """Write a PNG under a temporary name, then rename it into place."""
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=110))
    finally:
        plt.close(fig)


def plot_tradeoff(reports: Mapping[str, object], path: Path, title: str = "") -> None:
    """Accuracy vs mean GFLOPs per sample, one panel per metric of TRADEOFF_METRICS.

    Args:
        reports: checkpoint label -> an object with `policies` (name -> EvalSummary, holding
            "loops_1".."loops_L" and optionally "variance"/"gate") and `sweeps` ("variance"/"gate"
            -> [(tau, EvalSummary)]), e.g. evaluate.SourceReport.
        path: output PNG.
        title: figure title.
    """
    fig, axes = plt.subplots(1, len(TRADEOFF_METRICS), figsize=(5.2 * len(TRADEOFF_METRICS), 4.4))
    for i, (label, report) in enumerate(reports.items()):
        style, marker = _STYLES[i % len(_STYLES)], _MARKERS[i % len(_MARKERS)]
        fixed = sorted((int(k.split("_")[1]), s) for k, s in report.policies.items() if k.startswith("loops_"))
        for ax, (key, _) in zip(axes, TRADEOFF_METRICS):
            x = [s.mean_gflops for _, s in fixed]
            ax.plot(x, [getattr(s, key) for _, s in fixed], style, marker=marker, color=_COLOURS["loops"],
                    label=f"{label}: fixed loops", markersize=5)
            for k, s in fixed:
                ax.annotate(str(k), (s.mean_gflops, getattr(s, key)), fontsize=7,
                            textcoords="offset points", xytext=(3, 3))
            for mode, sweep in report.sweeps.items():
                ax.plot([s.mean_gflops for _, s in sweep], [getattr(s, key) for _, s in sweep], style,
                        marker=marker, markersize=3, color=_COLOURS[mode], alpha=0.85,
                        label=f"{label}: {mode} (tau_{'var' if mode == 'variance' else 'gate'} sweep)")
                if mode in report.policies:
                    s = report.policies[mode]
                    ax.plot([s.mean_gflops], [getattr(s, key)], "*", color=_COLOURS[mode], markersize=13,
                            markeredgecolor="k", label=f"{label}: {mode} at default tau")
    for ax, (_, ylabel) in zip(axes, TRADEOFF_METRICS):
        ax.set_xlabel("mean GFLOPs per hand")
        ax.set_ylabel(ylabel)
        ax.ticklabel_format(useOffset=False)
        ax.grid(alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    columns = 5
    rows = -(-len(names) // columns)
    fig.legend(handles, names, loc="lower center", ncol=columns, fontsize=7)
    fig.suptitle(f"{title}: accuracy vs computation (cf. DIR-Net Fig. 7)")
    fig.tight_layout(rect=(0, 0.035 + 0.045 * rows, 1, 1))
    _save(fig, path)


def plot_loop_errors(per_loop: Mapping[str, Mapping[str, np.ndarray]], path: Path, title: str = "") -> None:
    """Box plots of per-sample errors after each loop count (paper Fig. 8), checkpoints side by side.

    Args:
        per_loop: checkpoint label -> {"err2d": (L, N) crop-256 px, "err3d": (L, N) mm,
            "pa": (L, N) mm}; NaN entries (unlabelled samples) are left out.
        path: output PNG.
        title: figure title.
    """
    panels = (("err2d", "2D error per hand, crop-256 px"), ("err3d", "MPJPE per hand, mm"),
              ("pa", "PA-MPJPE per hand, mm"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.4))
    groups = len(per_loop)
    width = 0.8 / groups
    for g, (label, data) in enumerate(per_loop.items()):
        for ax, (key, ylabel) in zip(axes, panels):
            values = np.asarray(data[key], dtype=np.float64)
            columns = [v[np.isfinite(v)] for v in values]
            positions = np.arange(1, len(columns) + 1) + (g - (groups - 1) / 2) * width
            keep = [i for i, c in enumerate(columns) if c.size]
            if not keep:
                continue
            box = ax.boxplot([columns[i] for i in keep], positions=positions[keep], widths=width * 0.9,
                             whis=(5, 95), showfliers=False, patch_artist=True)
            colour = f"C{g}"
            for patch in box["boxes"]:
                patch.set_facecolor(colour)
                patch.set_alpha(0.5)
            ax.plot([], [], "s", color=colour, alpha=0.5, label=label)
            ax.set_ylabel(ylabel)
    for ax in axes:
        loops = max(np.asarray(d["err2d"]).shape[0] for d in per_loop.values())
        ax.set_xticks(np.arange(1, loops + 1), [str(k) for k in range(1, loops + 1)])
        ax.set_xlim(0.5, loops + 0.5)
        ax.set_xlabel("refiner passes (loops)")
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title}: per-hand error after each loop (boxes: quartiles; whiskers: 5-95%; cf. Fig. 8)")
    fig.tight_layout()
    _save(fig, path)


def plot_pck(chosen: Mapping[str, JointErrors], path: Path, title: str = "",
             policies: Sequence[str] | None = None) -> None:
    """3D PCK curves over 0-50 mm, wrist-relative and Procrustes-aligned (cf. paper Fig. 5).

    Args:
        chosen: policy name -> JointErrors (N, 21) of the joints that policy returned.
        path: output PNG.
        title: figure title.
        policies: which entries to draw (default: all).
    """
    fig, axes = plt.subplots(1, 2, figsize=(10.4, 4.4))
    for ax, (key, name) in zip(axes, (("mm", "3D PCK, wrist-relative"), ("pa", "3D PCK after Procrustes"))):
        for policy in policies or list(chosen):
            errors = getattr(chosen[policy], key)
            if not np.isfinite(errors).any():
                continue
            thresholds, values = pck_curve(errors, *FPHA_RANGE)
            ax.plot(thresholds, values, label=policy)
        ax.set_xlabel("error threshold, mm")
        ax.set_ylabel(name)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, path)

