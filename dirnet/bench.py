"""DIR-Net vs MediaPipe Hands on one CPU, same frames (`python -m dirnet.bench [--json]`).

Every frame of the real clip (../shared/data/asl_video) is decoded and converted to RGB once
(capture, not timed); then, frame by frame and interleaved so that load from other processes hits
every contender alike, it times:

- DIR-Net per crop: the fast path (`FastDIRNet.run`: uint8 crop -> exit loop -> results) at every
  fixed loop count and for each exit mode at the Estimator's default thresholds, and the eager
  PyTorch model (`run_with_exits` on the DIRNet) at the same settings, on the crop cut from the
  frame around the clip's reference landmarks (MediaPipe full's, shipped with the clip);
- MediaPipe Hands 0.10.21 lite and full (model_complexity 0 / 1) in tracking mode
  (static_image_mode=False), `MediaPipeHands.process(frame)` per frame (dirnet.mediapipe_hands:
  MediaPipe plus reading its landmarks into arrays);
- the app's per-frame path from decoded frame to result in frame px: `Estimator.estimate(frame,
  hands, boxes=...)` on the fast path with default exits (it cuts the crops and maps the results
  back); for one hand, and for two (the same box again, run as a left hand: its mirror image).

Warm-up frames are run but not timed. Reports median and 90th percentile in ms, parameters,
GFLOPs per loop count and the ratios to the targets (DIR-Net per crop with default exits <= 0.5x
MediaPipe lite; pipeline per frame for one hand <= MediaPipe full).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from tqdm import tqdm

from .cli import EXIT_USAGE, configure_logging, fail
from .crop import box_from_points, crop_matrix, warp
from .exit_policy import EXIT_MODES
from .exits import run_with_exits
from .mediapipe_hands import MediaPipeHands
from .runtime import BACKENDS, FastDIRNet, configure_threads, images_to_tensor

__all__ = ["BenchConfig", "run_bench", "format_table", "main", "TARGET_DIRNET_VS_LITE",
           "TARGET_PIPELINE_VS_FULL"]

# The clip is not package data: it lives in ../shared beside the checkout the command runs from
# (or where $DIRNET_SHARED points); --video / --landmarks name it otherwise.
_SHARED = Path(os.environ.get("DIRNET_SHARED", "../shared"))
_CLIP = _SHARED / "data" / "asl_video"
TARGET_DIRNET_VS_LITE = 0.5
TARGET_PIPELINE_VS_FULL = 1.0


@dataclass(frozen=True)
class BenchConfig:
    """Command-line settings of `python -m dirnet.bench`."""

    video: Path = _CLIP / "asl_hand.25fps.mp4"
    landmarks: Path = _CLIP / "asl_hand.full.json"
    weights: Path | None = None  # None: shipped weights, else an untrained model (timing only)
    preset: str | None = None  # time an untrained model of this preset (not with --weights)
    input_res: int | None = None  # time an untrained model at this input size (not with --weights)
    frames: int | None = None  # timed frames (default: all after the warm-up)
    warmup: int = 10
    threads: int = 1  # torch and ONNX Runtime intra-op threads
    backend: str = "onnxruntime"
    mediapipe: bool = True
    json: bool = False


def _stats(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1e3
    return {"median": round(float(np.median(a)), 3), "p90": round(float(np.percentile(a, 90)), 3)}


def _timed(fn: Callable[[], object], times: list[float], record: bool):
    """fn()'s result; its wall-clock seconds are appended to `times` when `record`."""
    start = time.perf_counter()
    result = fn()
    if record:
        times.append(time.perf_counter() - start)
    return result


def _load_clip(config: BenchConfig) -> tuple[list[np.ndarray], np.ndarray]:
    """RGB frames and their (N, 21, 2) reference landmarks (px), warm-up plus timed frames."""
    for path in (config.video, config.landmarks):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found (the clip lives in ../shared/data/asl_video)")
    landmarks = np.asarray(json.loads(config.landmarks.read_text()), dtype=np.float64)[..., :2]
    wanted = len(landmarks) if config.frames is None else min(len(landmarks), config.warmup + config.frames)
    capture = cv2.VideoCapture(str(config.video))
    frames = []
    try:
        while len(frames) < wanted:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    if len(frames) <= config.warmup:
        raise ValueError(f"{config.video} gave {len(frames)} frames, need more than the {config.warmup} "
                         "warm-up frames")
    return frames, landmarks[:len(frames)]


def _load_estimator(config: BenchConfig, threads: int):
    """The Estimator to time (on config.backend) and a description of its weights."""
    from .config import DIRNetConfig
    from .estimator import DEFAULT_WEIGHTS, Estimator
    from .hand import create_hand_model
    from .models.dirnet import DIRNet
    from .weights import checkpoint_paths

    if config.preset or config.input_res:
        if config.weights:
            raise ValueError("--preset/--res time an untrained model; they cannot be combined with --weights")
        base = DIRNetConfig()
        cfg = DIRNetConfig.from_preset(config.preset or base.preset,
                                       input_res=config.input_res or base.input_res)
        hand = create_hand_model(cfg.hand_model)
        cfg = DIRNetConfig.from_dict({**cfg.to_dict(), "num_shape": hand.num_shape})
        return (Estimator(DIRNet(cfg, hand), is_trained=False, backend=config.backend, threads=threads),
                "untrained (--preset/--res; exits follow untrained gate/variance heads)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "untrained" is reported in the output
        estimator = Estimator.from_pretrained(config.weights, backend=config.backend, threads=threads)
    if not estimator.is_trained:
        return estimator, "untrained (no weights; exits follow untrained gate/variance heads)"
    return estimator, str(checkpoint_paths(config.weights or DEFAULT_WEIGHTS)[0])


def run_bench(config: BenchConfig, estimator, weights: str) -> dict:
    """Time everything on the same frames; returns the report (see the module docstring).

    Args:
        config: the command's settings.
        estimator, weights: from `_load_estimator` (the Estimator and a description of its weights).
    """
    from .flops import count_stage_flops

    frames, landmarks = _load_clip(config)
    if estimator.backend != config.backend:
        raise ValueError(f"the {config.backend} backend could not be built (see the log)")
    fast: FastDIRNet = estimator.runner
    model = estimator.model
    cfg, res = model.cfg, estimator.input_res
    d = estimator.defaults

    fixed = {f"loops={l}": estimator.policy("none", max_loops=l) for l in range(1, cfg.max_loops + 1)}
    modes = {f"exit={m}": estimator.policy(m) for m in EXIT_MODES}
    policies = {**fixed, **modes}
    times: dict[str, list[float]] = {k: [] for k in
                                     [f"fast {p}" for p in policies] + [f"eager {p}" for p in policies]
                                     + ["mediapipe_lite", "mediapipe_full", "pipeline_1", "pipeline_2"]}
    loops_used: dict[str, list[int]] = {k: [] for k in modes}
    trackers = {f"mediapipe_{name}": MediaPipeHands(static=False, max_hands=1, model_complexity=complexity)
                for name, complexity in (("lite", 0), ("full", 1))} if config.mediapipe else {}
    found = {k: 0 for k in trackers}
    try:
        for i, (frame, points) in enumerate(tqdm(list(zip(frames, landmarks)), desc="bench frames",
                                                 unit="frame", file=sys.stderr, disable=None)):
            record = i >= config.warmup
            box = box_from_points(points)
            crop = warp(frame, crop_matrix(box, res), res)[None]
            tensor = images_to_tensor(crop).clone()
            for name, policy in policies.items():
                result = _timed(lambda: fast.run(crop, policy), times[f"fast {name}"], record)
                _timed(lambda: run_with_exits(model, tensor, policy), times[f"eager {name}"], record)
                if record and name in loops_used:
                    loops_used[name].append(int(result.loops[0]))
            for name, tracker in trackers.items():
                hands = _timed(lambda: tracker.process(frame), times[name], record)
                found[name] += int(record and bool(hands))
            _timed(lambda: estimator.estimate(frame, ["right"], boxes=[box]), times["pipeline_1"], record)
            _timed(lambda: estimator.estimate(frame, ["right", "left"], boxes=[box, box]),
                   times["pipeline_2"], record)
    finally:
        for tracker in trackers.values():
            tracker.close()

    stage = count_stage_flops(model)
    timed = len(frames) - config.warmup
    stats = {k: _stats(v) for k, v in times.items() if v}
    report = {
        "dirnet_ms": stats[f"fast exit={d.exit_mode}"]["median"],
        "mediapipe_lite_ms": stats["mediapipe_lite"]["median"] if trackers else None,
        "mediapipe_full_ms": stats["mediapipe_full"]["median"] if trackers else None,
        "pipeline_ms": stats["pipeline_1"]["median"],
        "pipeline_two_hands_ms": stats["pipeline_2"]["median"],
        "dirnet_eager_ms": stats[f"eager exit={d.exit_mode}"]["median"],
        "latency_ms": stats,
        "mean_loops": {k: round(float(np.mean(v)), 3) for k, v in loops_used.items()},
        "mediapipe_hand_found": {k: f"{v}/{timed}" for k, v in found.items()},
        "params": sum(p.numel() for n, p in model.named_parameters() if not n.startswith("hand.")),
        "gflops": {l: round(stage.gflops(l, gate=d.exit_mode == "gate"), 4) for l in range(1, cfg.max_loops + 1)},
        "stage_mflops": {k: round(v / 1e6, 3) for k, v in asdict(stage).items()},
        "config": {"preset": cfg.preset, "input_res": res, "max_loops": cfg.max_loops,
                   "loop_point": cfg.loop_point, "feedback": cfg.feedback},
        "defaults": asdict(d), "weights": weights, "backend": config.backend, "threads": config.threads,
        "frames": timed, "warmup": config.warmup, "torch": torch.__version__,
        "cpu": f"{os.cpu_count()} logical CPUs",
    }
    if trackers:
        report["ratios"] = {
            "dirnet_vs_lite": round(report["dirnet_ms"] / report["mediapipe_lite_ms"], 3),
            "pipeline_vs_full": round(report["pipeline_ms"] / report["mediapipe_full_ms"], 3),
            "targets": {"dirnet_vs_lite": TARGET_DIRNET_VS_LITE,
                        "pipeline_vs_full": TARGET_PIPELINE_VS_FULL},
        }
    return report


def format_table(report: dict) -> str:
    """The report as an aligned plain-text table (wall-clock ms: median and 90th percentile)."""
    lat = report["latency_ms"]
    c = report["config"]
    lines = [f"DIR-Net {c['preset']} @ {c['input_res']} px, weights: {report['weights']}",
             f"backend {report['backend']}, {report['threads']} thread(s), {report['frames']} frames "
             f"(+{report['warmup']} warm-up), params {report['params']:,}",
             "", f"{'DIR-Net per crop':17} {'fast med':>8} {'p90':>6} {'eager med':>9} {'p90':>6} "
             f"{'GFLOPs':>6} {'loops':>5}"]
    for key in [k[5:] for k in lat if k.startswith("fast ")]:
        fast, eager = lat[f"fast {key}"], lat[f"eager {key}"]
        if key.startswith("loops="):
            loops = int(key.split("=")[1])
            gflops, used = f"{report['gflops'][loops]:.3f}", str(loops)
        else:
            gflops, used = "", f"{report['mean_loops'][key]:.2f}"
        lines.append(f"{key:17} {fast['median']:>8.2f} {fast['p90']:>6.2f} {eager['median']:>9.2f} "
                     f"{eager['p90']:>6.2f} {gflops:>6} {used:>5}")
    lines += ["", f"{'per frame':17} {'median':>8} {'p90':>6}"]
    for key, label in (("mediapipe_lite", "MediaPipe lite"), ("mediapipe_full", "MediaPipe full"),
                       ("pipeline_1", "pipeline 1 hand"), ("pipeline_2", "pipeline 2 hands*")):
        if key in lat:
            lines.append(f"{label:17} {lat[key]['median']:>8.2f} {lat[key]['p90']:>6.2f}")
    lines.append("* the second hand is the first hand's box again, run as a left hand (its mirror image)")
    if "ratios" in report:
        r = report["ratios"]
        verdict = lambda v, t: "meets" if v <= t else "MISSES"  # noqa: E731
        lines += ["", f"ratios of medians (exit={report['defaults']['exit_mode']}):",
                  f"DIR-Net per crop / MediaPipe lite = {r['dirnet_vs_lite']:.2f}  "
                  f"target <= {TARGET_DIRNET_VS_LITE}: {verdict(r['dirnet_vs_lite'], TARGET_DIRNET_VS_LITE)}",
                  f"pipeline 1 hand / MediaPipe full = {r['pipeline_vs_full']:.2f}  "
                  f"target <= {TARGET_PIPELINE_VS_FULL}: {verdict(r['pipeline_vs_full'], TARGET_PIPELINE_VS_FULL)}",
                  f"MediaPipe found the hand in: {report['mediapipe_hand_found']}"]
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> BenchConfig:
    parser = argparse.ArgumentParser(prog="python -m dirnet.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    parser.add_argument("--weights", type=Path, help="checkpoint stem (default: shipped, else untrained)")
    parser.add_argument("--frames", type=int, help="timed frames (default: all after the warm-up)")
    parser.add_argument("--warmup", type=int, default=BenchConfig.warmup, help="untimed first frames")
    parser.add_argument("--threads", type=int, default=BenchConfig.threads,
                        help="torch and ONNX Runtime intra-op threads")
    parser.add_argument("--backend", choices=BACKENDS, default=BenchConfig.backend)
    parser.add_argument("--preset", choices=("fpha", "stb"),
                        help="time an untrained model of this preset (to choose one before training)")
    parser.add_argument("--res", dest="input_res", type=int,
                        help="time an untrained model at this input size (a multiple of 32)")
    parser.add_argument("--no-mediapipe", dest="mediapipe", action="store_false",
                        help="skip the MediaPipe comparison")
    parser.add_argument("--video", type=Path, default=BenchConfig.video)
    parser.add_argument("--landmarks", type=Path, default=BenchConfig.landmarks)
    args = parser.parse_args(argv)
    if args.frames is not None and args.frames < 1:
        parser.error(f"--frames must be >= 1, got {args.frames}")
    if args.warmup < 0 or args.threads < 1:
        parser.error("--warmup must be >= 0 and --threads >= 1")
    return BenchConfig(**vars(args))


def main(argv: list[str] | None = None) -> int:
    config = _parse(argv)
    configure_logging()
    threads = configure_threads(config.threads)
    try:
        estimator, weights = _load_estimator(config, threads)
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        report = run_bench(config, estimator, weights)
    except (FileNotFoundError, ValueError, OSError) as exc:
        return fail(str(exc))
    print(json.dumps(report) if config.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
