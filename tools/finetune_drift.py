"""Where a fine-tune's drift on other people comes from (issue 15; docs/FINETUNE.md).

    python tools/finetune_drift.py --tuned DIR [--base W] [--person teacher:CROPS]
                                   [--parts fe rf amg] [--fisher 0.1 0.3 1 --fit CROPS]

Scores the ASL clip (another person, room and camera, with MediaPipe's 3D) and `--person` (the
fine-tuned person's other poses) for:

- the base and the fine-tuned weights, with the ASL clip's PA-MPJPE per joint;
- `--parts`: the base weights with only some parts fine-tuned (fe: stem and feature extractor,
  rf: refiner, amg: attention map generator; "fe+rf" for both);
- `--fisher`: Fisher-weighted merges of the two (Matena & Raffel, "Merging Models with
  Fisher-Weighted Averaging", NeurIPS 2022): every weight (F0 base + lambda Fu tuned) / (F0 + lambda Fu),
  F0 the base's diagonal Fisher on its own training folders, Fu the tuned weights' on `--fit`.
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dirnet.config import DataSource, TrainConfig  # noqa: E402
from dirnet.data.augment import NO_AUGMENT  # noqa: E402
from dirnet.estimator import DEFAULT_WEIGHTS  # noqa: E402
from dirnet.evaluation.benchmark import ASL_CLIP, asl_clip_spec  # noqa: E402
from dirnet.evaluation.replay import LoopTable  # noqa: E402
from dirnet.evaluation.sources import open_source, parse_spec  # noqa: E402
from dirnet.finetune.blend import blend_state  # noqa: E402
from dirnet.finetune.score import score  # noqa: E402
from dirnet.models.dirnet import DIRNet  # noqa: E402
from dirnet.training.data import TrainData  # noqa: E402
from dirnet.training.losses import LossTargets, total_loss  # noqa: E402
from dirnet.weights import load_checkpoint  # noqa: E402

JOINTS = ("wrist", "T1", "T2", "T3", "T4", "I1", "I2", "I3", "I4", "M1", "M2", "M3", "M4",
          "R1", "R2", "R3", "R4", "L1", "L2", "L3", "L4")
PARTS = {"fe": ("stem.", "fe_stages."), "rf": ("rf_stages.",), "amg": ("feedback.",)}
TRAIN_FOLDERS = ("gesture_lab", "finger_count", "sign_digits", "asl_letters", "webcam_rooms")


@dataclass(frozen=True)
class DriftConfig:
    tuned: Path
    base: Path = DEFAULT_WEIGHTS
    person: str = ""  # a dirnet.evaluation spec of the person's other poses
    parts: tuple[str, ...] = ()
    fisher: tuple[float, ...] = ()
    fit: Path | None = None  # teacher crops of the frames fine-tuned on (for Fu)
    fisher_samples: int = 400


def diagonal_fisher(model: DIRNet, sources: list[DataSource], samples: int, batch: int = 4
                    ) -> dict[str, torch.Tensor]:
    """Mean squared gradient of the training loss per parameter, over un-augmented crops."""
    cfg = TrainConfig(model=model.cfg, protocol="end_to_end", stage_steps=(1,) * model.cfg.max_loops,
                      batch_size=batch, sources=tuple(sources), val_fraction=0.0, augment=NO_AUGMENT,
                      device="cpu")
    data = TrainData(cfg)
    model.eval()  # the fine-tune keeps the BatchNorm statistics too
    params = dict(model.named_parameters())
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    steps = max(samples // batch, 1)
    for step in tqdm(range(steps), desc="fisher", unit="batch"):
        b = data.batch(step)
        target = LossTargets(b["joints2d"], b["joints3d"], b["has2d"], b["has3d"])
        loss, _ = total_loss(model(b["image"]), target, model.cfg.input_res)
        model.zero_grad(set_to_none=True)
        loss.backward()
        for name, p in params.items():
            if p.grad is not None:
                total[name] += p.grad.detach() ** 2
    return {name: value / steps for name, value in total.items()}


def fisher_merge(base: dict, tuned: dict, f_base: dict, f_tuned: dict, lam: float) -> dict:
    """Per weight (F0 base + lam Fu tuned) / (F0 + lam Fu); buffers from `tuned`."""
    merged = blend_state(base, tuned, 1.0)
    for name, fb in f_base.items():
        w0, w1 = fb + 1e-12, lam * (f_tuned[name] + 1e-12)
        merged[name] = (w0 * base[name] + w1 * tuned[name]) / (w0 + w1)
    return merged


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/finetune_drift.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--tuned", type=Path, required=True, help="fine-tuned weights (unblended: --blend 1)")
    p.add_argument("--base", type=Path, default=DriftConfig.base)
    p.add_argument("--person", default="", help="dirnet.evaluation spec of the person's other poses")
    p.add_argument("--parts", nargs="*", default=(), help="part sets to take from --tuned, e.g. fe rf fe+rf")
    p.add_argument("--fisher", nargs="*", type=float, default=(), help="lambdas of Fisher-weighted merges")
    p.add_argument("--fit", type=Path, default=None, help="teacher crops of the fine-tuned frames (for --fisher)")
    p.add_argument("--fisher-samples", type=int, default=DriftConfig.fisher_samples)
    a = p.parse_args(argv)
    cfg = DriftConfig(a.tuned, a.base, a.person, tuple(a.parts), tuple(a.fisher), a.fit, a.fisher_samples)
    if cfg.fisher and cfg.fit is None:
        p.error("--fisher needs --fit (the fine-tuned frames' teacher crops)")
    torch.set_num_threads(1)
    model, _ = load_checkpoint(cfg.base)
    tuned_model, _ = load_checkpoint(cfg.tuned)
    base = {k: v.clone() for k, v in model.state_dict().items()}
    tuned = {k: v.clone() for k, v in tuned_model.state_dict().items()}
    res = model.cfg.input_res
    specs = {"ASL clip": asl_clip_spec(Path(ASL_CLIP)), **({"person": cfg.person} if cfg.person else {})}
    sources = {name: open_source(parse_spec(spec), res) for name, spec in specs.items()}

    def run(label: str, state: dict) -> LoopTable:
        """Score `state` on every source; returns the ASL clip's table."""
        model.load_state_dict(state)
        model.eval()
        row, tables = [], {}
        for name, source in sources.items():
            result, tables[name] = score(model, source, 1.0)
            row.append(f"{name} {result.err2d:6.2f} px {result.pa_mpjpe:6.2f} mm")
        print(f"{label:28} " + " | ".join(row), flush=True)
        return tables["ASL clip"]

    asl = {"base": run("base", base), "fine-tuned": run("fine-tuned", tuned)}
    for parts in cfg.parts:
        prefixes = tuple(prefix for part in parts.split("+") for prefix in PARTS[part])
        run(f"only {parts} fine-tuned", {k: tuned[k] if k.startswith(prefixes) else base[k] for k in base})
    if cfg.fisher:
        model.load_state_dict(base)
        f_base = diagonal_fisher(model, [DataSource("teacher", f"data/teacher/{f}") for f in TRAIN_FOLDERS],
                                 cfg.fisher_samples)
        f_tuned = diagonal_fisher(tuned_model, [DataSource("teacher", str(cfg.fit))], cfg.fisher_samples)
        for lam in cfg.fisher:
            run(f"Fisher merge, lambda {lam:g}", fisher_merge(base, tuned, f_base, f_tuned, lam))
    pa = {k: np.nanmean(t.errors().pa[-1], axis=0) for k, t in asl.items()}
    print("\nASL clip PA-MPJPE per joint, mm (base -> fine-tuned):")
    print("  ".join(f"{name} {b:.1f}->{t:.1f}" for name, b, t in zip(JOINTS, pa["base"], pa["fine-tuned"])))
    print("ASL clip finger extension, tip-to-knuckle distance / finger length (base -> fine-tuned; MediaPipe):")
    gt = extension(asl["base"].gt3d)
    ext = {k: extension(t.joints3d[-1]) for k, t in asl.items()}
    rows = zip("TIMRL", ext["base"], ext["fine-tuned"], gt)
    print("  ".join(f"{finger} {b:.2f}->{t:.2f}; {g:.2f}" for finger, b, t, g in rows))
    return 0


def extension(joints3d: np.ndarray) -> np.ndarray:
    """(5,) mean over hands of each finger's tip-to-knuckle distance over its length: 1 straight."""
    out = []
    for knuckle in (1, 5, 9, 13, 17):
        chain = joints3d[:, knuckle:knuckle + 4]
        length = np.linalg.norm(np.diff(chain, axis=1), axis=-1).sum(-1)
        out.append(np.nanmean(np.linalg.norm(chain[:, 3] - chain[:, 0], axis=-1) / length))
    return np.array(out)


if __name__ == "__main__":
    sys.exit(main())
