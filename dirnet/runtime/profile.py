"""Where inference time goes: `python -m dirnet.runtime.profile {stages,backends,ops,sweep,feedback}`.

- stages:   per-stage and per-loop-count medians, eager DIRNet against FastDIRNet (before / after);
- backends: per-stage medians of every backend considered (eager, folded, folded + channels-last,
            TorchScript, ONNX Runtime), the measurement behind the choice in docs/PERFORMANCE.md;
- ops:      torch.profiler's top ops of the eager exit loop, and ONNX Runtime's kernel time per op
            type for each stage of the fast path;
- sweep:    FastDIRNet at several presets/resolutions and every loop count, interleaved frame by
            frame with MediaPipe Hands lite/full on the clip (ratios in one run; choose a model);
- feedback: the attention feedback per loop on a trained checkpoint, with the variants tried to
            cut it (dirnet.runtime.feedback), in CPU time and wall-clock.

Untrained models (timing does not depend on weights; `feedback` needs trained ones), batch 1,
medians of wall-clock ms. Every measurement interleaves the things it compares, so load from other
processes hits them alike.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ..cli import fail
from ..config import DIRNetConfig
from ..exit_policy import ExitPolicy
from ..exits import run_with_exits
from ..hand import create_hand_model
from ..models.dirnet import DIRNet
from .engine import FastDIRNet, configure_threads, images_to_tensor
from .onnx import create_session, stage_graphs
from .stages import InferenceStages
from .timing import interleaved_medians

__all__ = ["stage_table", "backend_table", "op_tables", "sweep", "main"]

_STAGES = ("fe", "rf", "amg", "head")



def _model(preset: str, res: int) -> DIRNet:
    hand = create_hand_model("open")
    cfg = DIRNetConfig.from_preset(preset, input_res=res, num_shape=hand.num_shape)
    return DIRNet(cfg, hand).eval()


@torch.no_grad()
def _stage_calls(net, x: torch.Tensor) -> list[Callable[[], object]]:
    """FE, RF (loop 1, with attention), AMG and head of a DIRNet or FastDIRNet."""
    features = net.forward_features(x)
    refined = net.forward_refine(features, 0)
    attention = net.attention(refined)
    return [lambda: net.forward_features(x), lambda: net.forward_refine(features, 1, attention),
            lambda: net.attention(refined), lambda: net.forward_head(refined)]


@torch.no_grad()
def stage_table(preset: str, res: int) -> dict:
    """Eager against fast: ms per stage, per hand-model call and per run of 1..max_loops loops."""
    model = _model(preset, res)
    fast = FastDIRNet(model)
    x = torch.rand(1, 3, res, res)
    rest = (torch.eye(3)[None], torch.zeros(1, 15, 3), torch.zeros(1, model.hand.num_shape))
    eager = interleaved_medians(_stage_calls(model, x) + [lambda: model.hand(*rest)])
    fast_stages = interleaved_medians(_stage_calls(fast, x))
    calls = []
    for loops in range(1, model.cfg.max_loops + 1):
        policy = ExitPolicy("none", max_loops=loops)
        calls += [lambda p=policy: run_with_exits(model, x, p), lambda p=policy: run_with_exits(fast, x, p)]
    runs = interleaved_medians(calls, reps=100)
    return {"eager": dict(zip(_STAGES + ("hand",), eager)), "fast": dict(zip(_STAGES, fast_stages)),
            "loops_eager": runs[0::2], "loops_fast": runs[1::2]}


@torch.no_grad()
def backend_table(preset: str, res: int) -> dict[str, list[float]]:
    """ms per stage (FE, RF, AMG, head) for each backend considered."""
    model = _model(preset, res)
    stages = InferenceStages(model)
    last = InferenceStages(model).to(memory_format=torch.channels_last)
    x = torch.rand(1, 3, res, res)
    features = stages.features(x)
    refined = stages.refiners[0](features)
    attention = stages.attention(refined)
    cl = lambda t: t.contiguous(memory_format=torch.channels_last)  # noqa: E731
    xc, fc, ac, rc = cl(x), cl(features), cl(attention), cl(refined)
    jit = [torch.jit.freeze(torch.jit.trace(m.eval(), a, check_trace=False)) for m, a in (
        (stages.features, (x,)), (stages.refiners[1], (features, attention)), (stages.attention, (refined,)),
        (stages.head, (refined,)))]
    ort = FastDIRNet(model)
    variants = {
        "eager": _stage_calls(model, x),
        "folded": [lambda: stages.features(x), lambda: stages.refiners[1](features, attention),
                   lambda: stages.attention(refined), lambda: stages.head(refined)],
        "folded+channels_last": [lambda: last.features(xc), lambda: last.refiners[1](fc, ac),
                                 lambda: last.attention(rc), lambda: last.head(rc)],
        "torchscript": [lambda: jit[0](x), lambda: jit[1](features, attention), lambda: jit[2](refined),
                        lambda: jit[3](refined)],
        "onnxruntime": _stage_calls(ort, x),
    }
    flat = [fn for calls in variants.values() for fn in calls]
    medians = interleaved_medians(flat, reps=100)
    return {name: medians[4 * i:4 * i + 4] for i, name in enumerate(variants)}


@torch.no_grad()
def op_tables(preset: str, res: int, loops: int, rows: int = 12) -> dict:
    """Top eager ops (share of self CPU time) and ONNX Runtime kernel µs per op type and stage."""
    from torch.profiler import ProfilerActivity, profile

    model = _model(preset, res)
    x = torch.rand(1, 3, res, res)
    policy = ExitPolicy("none", max_loops=loops)
    for _ in range(10):
        run_with_exits(model, x, policy)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(30):
            run_with_exits(model, x, policy)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    eager = {e.key: {"share": round(e.self_cpu_time_total / total, 4), "calls_per_run": e.count // 30}
             for e in events[:rows]}
    eager_ms = total / 30 / 1e3

    stages = InferenceStages(model)
    features = stages.features(x)
    refined = stages.refiners[0](features)
    feeds = {"features": {"images": x}, "refine_1": {"features": features, "attention": stages.attention(refined)},
             "attention": {"refined": refined}, "head": {"refined": refined}}
    fast = {}
    with tempfile.TemporaryDirectory() as tmp:
        for graph in stage_graphs(stages):
            if graph.name not in feeds:
                continue
            session = create_session(graph.model, profile_prefix=os.path.join(tmp, graph.name))
            arrays = {k: v.numpy() for k, v in feeds[graph.name].items()}
            for _ in range(100):
                session.run(None, arrays)
            with open(session.end_profiling()) as f:
                trace = json.load(f)
            kernels = collections.Counter()
            nodes = 0
            for event in trace:
                if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                    kernels[event["args"]["op_name"]] += event["dur"] / 100
                    nodes += 1
            fast[graph.name] = {"nodes": nodes // 100, "kernel_us": round(sum(kernels.values()), 1),
                                "top_us": {k: round(v, 1) for k, v in kernels.most_common(5)}}
    return {"eager_ms_per_run": round(eager_ms, 3), "eager_top_ops": eager, "fast_kernels": fast}


def sweep(models: Sequence[str], frames: int = 150, warmup: int = 10) -> dict:
    """FastDIRNet at each "preset:res" and every loop count, interleaved with MediaPipe lite/full."""
    from ..bench import BenchConfig, _load_clip
    from ..crop import box_from_points, crop_matrix, warp
    from ..mediapipe_hands import MediaPipeHands

    clip, landmarks = _load_clip(BenchConfig(frames=frames, warmup=warmup))
    nets = {}
    for spec in models:
        preset, res = spec.split(":")
        nets[spec] = FastDIRNet(_model(preset, int(res)))
    trackers = {f"mediapipe_{name}": MediaPipeHands(static=False, max_hands=1, model_complexity=complexity)
                for name, complexity in (("lite", 0), ("full", 1))}
    times: dict[str, list[float]] = collections.defaultdict(list)
    try:
        for i, (frame, points) in enumerate(zip(clip, landmarks)):
            box = box_from_points(points)
            for name, tracker in trackers.items():
                start = time.perf_counter()
                tracker.process(frame)
                if i >= warmup:
                    times[name].append(time.perf_counter() - start)
            for spec, net in nets.items():
                res = net.cfg.input_res
                crop = warp(frame, crop_matrix(box, res), res)[None]
                for loops in range(1, net.cfg.max_loops + 1):
                    start = time.perf_counter()
                    net.run(crop, ExitPolicy("none", max_loops=loops))
                    if i >= warmup:
                        times[f"{spec} loops={loops}"].append(time.perf_counter() - start)
    finally:
        for tracker in trackers.values():
            tracker.close()
    medians = {k: round(1e3 * float(np.median(v)), 3) for k, v in times.items()}
    lite = medians["mediapipe_lite"]
    return {"ms": medians, "vs_lite": {k: round(v / lite, 3) for k, v in medians.items()},
            "frames": len(clip) - warmup}


def clip_images(res: int, frames: int) -> torch.Tensor:
    """(N, 3, R, R) float crops of the bench clip's first frames, cut around its reference landmarks."""
    from ..bench import BenchConfig, _load_clip
    from ..crop import box_from_points, crop_matrix, warp

    clip, landmarks = _load_clip(BenchConfig(frames=frames, warmup=0))
    crops = np.stack([warp(f, crop_matrix(box_from_points(p), res), res) for f, p in zip(clip, landmarks)])
    return images_to_tensor(crops)


def feedback(weights: Path | None, accuracy: str | None, frames: int = 32) -> dict:
    """`feedback_table` of a checkpoint (default: the shipped one) on the clip's first frames."""
    from ..estimator import DEFAULT_WEIGHTS
    from ..weights import load_checkpoint
    from .feedback import feedback_table

    model = load_checkpoint(weights or DEFAULT_WEIGHTS)[0]
    return feedback_table(model, clip_images(model.cfg.input_res, frames), accuracy=accuracy)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dirnet.runtime.profile",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("stages", "backends", "ops", "sweep", "feedback"))
    parser.add_argument("--preset", default="fpha", choices=("fpha", "stb"))
    parser.add_argument("--res", type=int, nargs="+", default=[224, 160, 128])
    parser.add_argument("--loops", type=int, default=4, help="loops for `ops`")
    parser.add_argument("--models", nargs="+", default=["fpha:224", "fpha:160", "fpha:128"],
                        help="preset:res list for `sweep`")
    parser.add_argument("--frames", type=int, default=150, help="timed frames for `sweep`")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--weights", type=Path, help="checkpoint for `feedback` (default: shipped)")
    parser.add_argument("--accuracy", default="teacher:data/teacher/counting_wall",
                        help="labelled data spec scoring `feedback`'s half-resolution AMG ('' to skip)")
    args = parser.parse_args(argv)
    configure_threads(args.threads)
    load = os.getloadavg()[0]
    try:
        if args.what == "sweep":
            results = {"sweep": sweep(args.models, args.frames)}
        elif args.what == "feedback":
            results = {"feedback": feedback(args.weights, args.accuracy or None)}
        else:
            fn = {"stages": stage_table, "backends": backend_table,
                  "ops": lambda p, r: op_tables(p, r, args.loops)}[args.what]
            results = {f"{args.preset}:{res}": fn(args.preset, res) for res in args.res}
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc))
    print(json.dumps({"what": args.what, "threads": args.threads,
                      "load_avg_1min": [round(load, 2), round(os.getloadavg()[0], 2)], **results}, indent=None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
