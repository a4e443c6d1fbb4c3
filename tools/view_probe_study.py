"""Can a cheap palm/back view classifier decide per hand when to trust the side-flipped reading
(docs/GENERALISATION.md, "Where the error is: hands that show the camera their back")?

    nice -n 5 python tools/view_probe_study.py --weights checkpoints/stop8_default [--limit 400] \
        [--cache eval/view_probe] [--thresholds 0.5 0.6 0.7 0.8 0.9] [--sets ref0 gate_last ...]

(--limit 0: every hand of counting_wall. About 4-5 min on one core, 80 s of it network runs.)

1. Every hand of the training sources' teacher folders (their `:train` share) is run once with the
   shipped network (fast path, one thread); recorded per hand: the pooled FE output (global and
   4x4), the loop-0 refined map (flattened), the last loop's gate input f, and the network input
   downsampled to 32x32 (grey and colour). Label: the view (`hand_view`) of the teacher's 2D joints.
2. A logistic regression (torch, standardised features, L2; L2 chosen by leave-one-source-out over
   the five training folders) per feature set; view accuracy on the `:val` share of the training
   folders, counting_wall and the ASL clip, split by the true view.
3. The evaluation hands (training folders' `:val`, counting_wall, the ASL clip) are also run with
   the side flipped (tools/side_flip_study.py). Rule: the network's own view (hand_view of its
   last-loop 2D joints with the labelled side); where the classifier calls the other view with
   probability > t, take the flipped run's joints (optionally only where the network's hand is not
   edge-on: |sine| of the angle wrist->index MCP vs wrist->little MCP above a guard). Printed: 2D
   mean error (256 px crops, last loop) and the share of hands run twice, against "as labelled",
   the oracle (better of the two per hand) and a perfect view classifier under the same rule.
Network outputs are cached (npz per source) in --cache, so reruns only refit the classifiers.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dirnet.data.splits import hand_view  # noqa: E402
from dirnet.evaluation.benchmark import ASL_CLIP, asl_clip_spec  # noqa: E402
from dirnet.evaluation.replay import collect, fast_model  # noqa: E402
from dirnet.evaluation.sources import open_source, parse_spec  # noqa: E402
from dirnet.weights import load_checkpoint  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from side_flip_study import flipped, last_loop_error  # noqa: E402

TRAIN_FOLDERS = ("gesture_lab", "finger_count", "sign_digits", "asl_letters", "webcam_rooms")
FEATURE_SETS = {
    "fe_gap": ("fe_gap",),
    "fe_4x4": ("fe_4x4",),
    "ref0": ("ref0",),
    "gate_last": ("gate_last",),
    "fe4+ref0+gate": ("fe_4x4", "ref0", "gate_last"),
    "thumb_grey32": ("thumb_grey",),
    "thumb_rgb32": ("thumb_rgb",),
}
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1)


class Recorder:
    """A staged model that passes everything through and keeps per-hand intermediate features."""

    def __init__(self, model):
        self.model, self.rec = model, defaultdict(list)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def forward_features(self, images):
        feats = self.model.forward_features(images)
        self.rec["fe_gap"].append(feats.mean((2, 3)).numpy())
        self.rec["fe_4x4"].append(F.adaptive_avg_pool2d(feats, 4).flatten(1).numpy())
        small = F.adaptive_avg_pool2d(images, 32)
        self.rec["thumb_rgb"].append(small.flatten(1).numpy())
        self.rec["thumb_grey"].append(small.mean(1).flatten(1).numpy())
        return feats

    def forward_refine(self, features, loop, attention=None):
        refined = self.model.forward_refine(features, loop, attention)
        if loop == 0:
            self.rec["ref0"].append(refined.flatten(1).numpy())
        return refined


def run_source(model, spec: str, limit: int | None, cache: Path, with_flip: bool) -> dict:
    """Per-hand features, labels, views and last-loop errors of one source (cached as npz)."""
    source = open_source(parse_spec(spec), model.cfg.input_res, limit)
    path = cache / f"{source.name}_{limit}{'_flip' if with_flip else ''}.npz"
    if path.exists():
        return dict(np.load(path))
    rec = Recorder(model)
    table = collect(rec, source, desc=source.name)
    side = np.where(table.left, "left", "right")
    out = {k: np.concatenate(v).astype(np.float32) for k, v in rec.rec.items()}
    out["gate_last"] = table.gate_input[-1]
    out["true_back"] = table.views() == "back"
    out["labelled"] = table.views() != ""
    out["net_back"] = np.array([hand_view(p, s) == "back" for p, s in zip(table.joints2d[-1], side)])
    out["net_sin"] = turn_sine(table.joints2d[-1])
    out["err_plain"] = last_loop_error(table)
    if with_flip:
        out["err_flip"] = last_loop_error(collect(model, flipped(source), desc=source.name + "_flipped"))
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)
    return out


def turn_sine(joints2d: np.ndarray) -> np.ndarray:
    """(N,) |sine| of the angle wrist->index MCP vs wrist->little MCP: near 0 for an edge-on hand."""
    index, little = joints2d[:, 5] - joints2d[:, 0], joints2d[:, 17] - joints2d[:, 0]
    cross = index[:, 0] * little[:, 1] - index[:, 1] * little[:, 0]
    return np.abs(cross) / (np.linalg.norm(index, axis=1) * np.linalg.norm(little, axis=1) + 1e-9)


def features(data: dict, names: tuple[str, ...]) -> np.ndarray:
    return np.concatenate([data[n] for n in names], 1)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, steps: int = 200):
    """Standardised L2 logistic regression (LBFGS); returns a function x -> P(back)."""
    mean, std = x.mean(0), x.std(0) + 1e-6
    xt = torch.from_numpy((x - mean) / std).double()
    yt = torch.from_numpy(y.astype(np.float64))
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(xt @ w + b, yt) + l2 * (w * w).sum()
        loss.backward()
        return loss
    opt.step(closure)
    w_, b_ = w.detach().numpy(), float(b.detach())

    def predict(z: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(((z - mean) / std) @ w_ + b_)))
    return predict


def accuracy(p_back: np.ndarray, true_back: np.ndarray) -> tuple[float, float, float]:
    """(palm accuracy, back accuracy, balanced)."""
    call = p_back > 0.5
    palm = float((~call[~true_back]).mean()) if (~true_back).any() else float("nan")
    back = float(call[true_back].mean()) if true_back.any() else float("nan")
    return palm, back, (palm + back) / 2


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/view_probe_study.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--limit", type=int, default=400, help="hands of each held-out source (0: all)")
    p.add_argument("--train-limit", type=int, default=None, help="hands of each training folder")
    p.add_argument("--cache", type=Path, default=Path("eval/view_probe"))
    p.add_argument("--thresholds", type=float, nargs="+", default=[0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    p.add_argument("--sets", nargs="+", default=list(FEATURE_SETS), choices=list(FEATURE_SETS))
    args = p.parse_args(argv)
    args.limit = args.limit or None  # 0: every hand
    torch.set_num_threads(1)
    start = time.time()
    model = fast_model(load_checkpoint(args.weights)[0].eval())
    cache = args.cache / args.weights.name
    train = {f: run_source(model, f"teacher:data/teacher/{f}:train", args.train_limit, cache, False)
             for f in TRAIN_FOLDERS}
    val = [run_source(model, f"teacher:data/teacher/{f}:val", None, cache, True) for f in TRAIN_FOLDERS]
    val = {k: np.concatenate([v[k] for v in val]) for k in val[0]}
    held = {"counting_wall": run_source(model, "teacher:data/teacher/counting_wall", args.limit, cache, True),
            "asl_clip": run_source(model, asl_clip_spec(Path(ASL_CLIP)), args.limit, cache, True)}
    print(f"network runs: {time.time() - start:.0f} s")
    keep = lambda d: {k: v[d["labelled"]] for k, v in d.items()}  # noqa: E731
    train = {f: keep(d) for f, d in train.items()}
    val, held = keep(val), {n: keep(d) for n, d in held.items()}
    all_train = {k: np.concatenate([d[k] for d in train.values()]) for k in next(iter(train.values()))}
    evals = {"train-folders val": val, **held}
    print("hands: train " + ", ".join(f"{f} {len(d['true_back'])} ({d['true_back'].mean():.0%} back)"
                                      for f, d in train.items()))
    print("       " + ", ".join(f"{n} {len(d['true_back'])} ({d['true_back'].mean():.0%} back)"
                                for n, d in evals.items()))

    print("\nview accuracy, palm / back (balanced); 'network' = hand_view of its own last-loop joints")
    print(f"{'features':16s} {'L2':>7s} {'LOSO bal':>8s}  " + "  ".join(f"{n:>20s}" for n in evals))
    print(f"{'network':16s} {'':7s} {'':8s}  " + "  ".join(
        "{:>5.1%} / {:>5.1%} ({:>5.1%})".format(*accuracy(d["net_back"].astype(float), d["true_back"]))
        for d in evals.values()))
    probs = {}
    for name in args.sets:
        cols = FEATURE_SETS[name]
        loso = {}
        for l2 in L2_GRID:
            out_of_fold = []  # each folder's P(back) from a classifier fitted on the other four
            for f in TRAIN_FOLDERS:
                rest = [d for g, d in train.items() if g != f]
                pred = fit_logistic(np.concatenate([features(d, cols) for d in rest]),
                                    np.concatenate([d["true_back"] for d in rest]), l2)
                out_of_fold.append(pred(features(train[f], cols)))
            loso[l2] = accuracy(np.concatenate(out_of_fold), all_train["true_back"])[2]
        l2 = max(loso, key=loso.get)
        pred = fit_logistic(features(all_train, cols), all_train["true_back"], l2)
        probs[name] = {n: pred(features(d, cols)) for n, d in evals.items()}
        print(f"{name:16s} {l2:7.0e} {loso[l2]:8.1%}  " + "  ".join(
            "{:>5.1%} / {:>5.1%} ({:>5.1%})".format(*accuracy(probs[name][n], d["true_back"]))
            for n, d in evals.items()), flush=True)

    print("\n2D mean error (256 px crops, last loop) and share of hands run twice")
    for n, d in evals.items():
        e0, e1, net, true = d["err_plain"], d["err_flip"], d["net_back"], d["true_back"]
        print(f"\n{n} ({len(e0)} hands; network's view wrong on {(net != true).mean():.1%})")
        print(f"  {'as labelled':34s} {e0.mean():6.2f} px   0.0%")
        print(f"  {'oracle (better of two)':34s} {np.minimum(e0, e1).mean():6.2f} px   {(e1 < e0).mean():5.1%} flipped")
        use = net != true  # a perfect view classifier with this rule
        print(f"  {'perfect view classifier':34s} {np.where(use, e1, e0).mean():6.2f} px  {use.mean():5.1%}")
        for name in args.sets:
            pb = probs[name][n]
            p_other = np.where(net, 1.0 - pb, pb)
            row = [f"t={t}: {np.where(p_other > t, e1, e0).mean():6.2f} ({(p_other > t).mean():5.1%})"
                   for t in args.thresholds]
            print(f"  {name:16s} " + "  ".join(row))
        rng = np.random.default_rng(0)
        for name in args.sets:  # at t = 0.5: which hands were run twice, and the gain's 95% interval
            pb = probs[name][n]
            flip = np.where(net, 1.0 - pb, pb) > 0.5
            gain = np.where(flip, e1, e0) - e0
            boot = np.array([gain[rng.integers(0, len(gain), len(gain))].mean() for _ in range(2000)])
            print(f"  {name:16s} t=0.5: flips {flip.sum():3d}, of them view-wrong {(flip & use).sum():3d} "
                  f"(caught {(flip & use).sum()}/{use.sum()}), better after flip {(flip & (e1 < e0)).sum():3d}; "
                  f"change {gain.mean():+.2f} px [{np.quantile(boot, 0.025):+.2f}, {np.quantile(boot, 0.975):+.2f}]")
        for name in [s for s in ("ref0", "gate_last", "fe4+ref0+gate") if s in args.sets]:
            pb = probs[name][n]  # edge-on guard: no second run where the network's own hand is edge-on
            p_other = np.where(net, 1.0 - pb, pb)
            row = [f"|sin|>{g}: {np.where((p_other > 0.5) & (d['net_sin'] > g), e1, e0).mean():6.2f} "
                   f"({((p_other > 0.5) & (d['net_sin'] > g)).mean():5.1%})" for g in (0.1, 0.2, 0.3, 0.5)]
            print(f"  {name:16s} t=0.5 " + "  ".join(row))
    print(f"\ntotal {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
