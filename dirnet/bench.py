"""DIR-Net vs MediaPipe Hands on one CPU, same frames (`python -m dirnet.bench [--json]`).

Every frame of the real clip (../shared/data/asl_video) is decoded and converted to RGB once
(capture, not timed); then, frame by frame and interleaved so that load from other processes hits
every contender alike, it times:

- DIR-Net per crop: the fast path (`FastDIRNet.run`: uint8 crop -> exit loop -> results) in fp32
  and, when the weights have an int8 plan (dirnet.runtime.quantize), in int8, at every fixed loop
  count and for each exit mode at the Estimator's default thresholds, and the eager PyTorch model
  (`run_with_exits` on the DIRNet) at the same settings, on the crop cut from the frame around the
  clip's reference landmarks (MediaPipe full's, shipped with the clip);
- MediaPipe Hands 0.10.21 lite and full (model_complexity 0 / 1) in tracking mode
  (static_image_mode=False), `MediaPipeHands.process(frame)` per frame (dirnet.mediapipe_hands:
  MediaPipe plus reading its landmarks into arrays);
- the app's per-frame path from decoded frame to result in frame px: `Estimator.estimate(frame,
  hands, boxes=...)` on the fast path with default exits (it cuts the crops and maps the results
  back); for one hand, and for two (the same box again, run as a left hand: its mirror image);
  for each precision.

Warm-up frames are run but not timed. Reports median and 90th percentile in ms, parameters,
GFLOPs per loop count, the intra-op threads and the rule that chose them, the ratios to the
targets (DIR-Net per crop with default exits <= 0.5x MediaPipe lite; pipeline per frame for one
hand <= 0.6x MediaPipe full) per precision, and int8's accuracy against fp32 on labelled crops.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np
import torch
from tqdm import tqdm

from .cli import EXIT_USAGE, configure_logging, fail
from .crop import box_from_points, crop_matrix, warp
from .exit_policy import EXIT_MODES
from .exits import run_with_exits
from .mediapipe_hands import MediaPipeHands
from .runtime import BACKENDS, auto_threads, configure_threads, images_to_tensor, load_plan
from .runtime.accuracy import compare_precisions

if TYPE_CHECKING:
    from .estimator import Estimator

__all__ = ["BenchConfig", "run_bench", "format_table", "main", "TARGET_DIRNET_VS_LITE",
           "TARGET_PIPELINE_VS_FULL"]

log = logging.getLogger(__name__)

# The clip is not package data: it lives in ../shared beside the checkout the command runs from
# (or where $DIRNET_SHARED points); --video / --landmarks name it otherwise.
_SHARED = Path(os.environ.get("DIRNET_SHARED", "../shared"))
_CLIP = _SHARED / "data" / "asl_video"
TARGET_DIRNET_VS_LITE = 0.5
TARGET_PIPELINE_VS_FULL = 0.6


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
    threads: int | None = None  # torch and ONNX Runtime intra-op threads; None: auto_threads()
    backend: str = "onnxruntime"
    mediapipe: bool = True
    int8: bool = True  # also time int8, when the weights have an int8 plan
    accuracy: str | None = "teacher:data/teacher/counting_wall"  # labelled crops for int8 vs fp32
    accuracy_limit: int = 200  # hands scored
    json: bool = False


def _stats(samples: list[float]) -> dict[str, float]:
    a = np.asarray(samples) * 1e3
    return {"median": round(float(np.median(a)), 3), "p90": round(float(np.percentile(a, 90)), 3)}


def _timed(fn: Callable[[], object], times: list[tuple[float, float]], record: bool,
           cpu_clock: Callable[[], float] = time.thread_time):
    """fn()'s result; its (wall-clock, CPU) seconds are appended to `times` when `record`.

    CPU time hardly changes with other processes' load, which on a shared machine stretches
    wall-clock calls by whole scheduler slices. DIR-Net runs on the calling thread (one intra-op
    thread), so its clock is this thread's; MediaPipe runs its graph on threads of its own, so it
    is timed with the whole process's CPU clock (`time.process_time`).
    """
    wall, cpu = time.perf_counter(), cpu_clock()
    result = fn()
    if record:
        times.append((time.perf_counter() - wall, cpu_clock() - cpu))
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


def _load_estimators(config: BenchConfig, threads: int) -> tuple[dict[str, Estimator], str]:
    """precision -> the Estimator to time on config.backend (fp32 always; int8 when asked for and
    the weights have an int8 plan), and a description of the weights."""
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
        return ({"fp32": Estimator(DIRNet(cfg, hand), is_trained=False, backend=config.backend, threads=threads)},
                "untrained (--preset/--res; exits follow untrained gate/variance heads)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "untrained" is reported in the output
        fp32 = Estimator.from_pretrained(config.weights, backend=config.backend, precision="fp32",
                                         threads=threads)
    if not fp32.is_trained:
        return {"fp32": fp32}, "untrained (no weights; exits follow untrained gate/variance heads)"
    estimators = {"fp32": fp32}
    plan = load_plan("auto", fp32.weights_path, fp32.model) if config.int8 and config.backend == "onnxruntime" else None
    if plan is not None:
        int8 = Estimator(fp32.model, fp32.defaults, metadata=fp32.metadata, backend=config.backend,
                         threads=threads, plan=plan)
        if int8.precision == "int8":  # else a plan without stages, or a fast path that failed (logged)
            estimators["int8"] = int8
    return estimators, str(checkpoint_paths(config.weights or DEFAULT_WEIGHTS)[0])


def _precision_report(stats: dict, cpu: dict, loops_used: dict, precision: str, d, mediapipe: bool) -> dict:
    """One precision's headline medians, mean loops and ratios to MediaPipe (wall-clock and CPU)."""
    out = {"dirnet_ms": stats[f"{precision} exit={d.exit_mode}"]["median"],
           "pipeline_ms": stats[f"pipeline_1 {precision}"]["median"],
           "pipeline_two_hands_ms": stats[f"pipeline_2 {precision}"]["median"],
           "mean_loops": {k.split(" ", 1)[1]: round(float(np.mean(v)), 3) for k, v in loops_used.items()
                          if k.startswith(f"{precision} ")}}
    if mediapipe:
        for key, table in (("ratios", stats), ("cpu_ratios", cpu)):
            out[key] = {
                "dirnet_vs_lite": round(table[f"{precision} exit={d.exit_mode}"]["median"]
                                        / table["mediapipe_lite"]["median"], 3),
                "pipeline_vs_full": round(table[f"pipeline_1 {precision}"]["median"]
                                          / table["mediapipe_full"]["median"], 3)}
    return out


def run_bench(config: BenchConfig, estimators: dict[str, Estimator], weights: str,
              threads: tuple[int, str]) -> dict:
    """Time everything on the same frames; returns the report (see the module docstring).

    Args:
        config: the command's settings.
        estimators, weights: from `_load_estimators` (the Estimator per precision and a
            description of their weights).
        threads: the intra-op threads and the rule that chose them.
    """
    frames, landmarks = _load_clip(config)
    if any(e.backend != config.backend for e in estimators.values()):
        raise ValueError(f"the {config.backend} backend could not be built (see the log)")
    engines = {p: e.runner for p, e in estimators.items()}
    estimator = estimators["fp32"]
    model = estimator.model
    cfg, res = model.cfg, estimator.input_res
    d = estimator.defaults

    fixed = {f"loops={l}": estimator.policy("none", max_loops=l) for l in range(1, cfg.max_loops + 1)}
    modes = {f"exit={m}": estimator.policy(m) for m in EXIT_MODES}
    policies = {**fixed, **modes}
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in
                                     [f"{p} {q}" for p in [*engines, "eager"] for q in policies]
                                     + ["mediapipe_lite", "mediapipe_full"]
                                     + [f"pipeline_{n} {p}" for n in (1, 2) for p in engines]}
    loops_used: dict[str, list[int]] = {f"{p} {m}": [] for p in engines for m in modes}
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
                for precision, engine in engines.items():
                    key = f"{precision} {name}"
                    result = _timed(lambda: engine.run(crop, policy), times[key], record)
                    if record and key in loops_used:
                        loops_used[key].append(int(result.loops[0]))
                _timed(lambda: run_with_exits(model, tensor, policy), times[f"eager {name}"], record)
            for name, tracker in trackers.items():
                hands = _timed(lambda: tracker.process(frame), times[name], record, time.process_time)
                found[name] += int(record and bool(hands))
            for precision, est in estimators.items():
                _timed(lambda: est.estimate(frame, ["right"], boxes=[box]), times[f"pipeline_1 {precision}"],
                       record)
                _timed(lambda: est.estimate(frame, ["right", "left"], boxes=[box, box]),
                       times[f"pipeline_2 {precision}"], record)
    finally:
        for tracker in trackers.values():
            tracker.close()

    stage = estimator.stage_flops
    timed = len(frames) - config.warmup
    stats = {k: _stats([wall for wall, _ in v]) for k, v in times.items() if v}
    cpu = {k: _stats([c for _, c in v]) for k, v in times.items() if v}
    per_precision = {p: _precision_report(stats, cpu, loops_used, p, d, bool(trackers)) for p in engines}
    default = "int8" if "int8" in engines else "fp32"  # what Estimator.from_pretrained() runs
    report = {
        **{k: v for k, v in per_precision[default].items() if k != "mean_loops"},
        "precision": default, "precisions": per_precision,
        "mediapipe_lite_ms": stats["mediapipe_lite"]["median"] if trackers else None,
        "mediapipe_full_ms": stats["mediapipe_full"]["median"] if trackers else None,
        "dirnet_eager_ms": stats[f"eager exit={d.exit_mode}"]["median"],
        "latency_ms": stats, "cpu_ms": cpu,
        "mean_loops": per_precision[default]["mean_loops"],
        "mediapipe_hand_found": {k: f"{v}/{timed}" for k, v in found.items()},
        "accuracy": _accuracy(config, engines, stage, estimator.policy()),
        "params": sum(p.numel() for n, p in model.named_parameters() if not n.startswith("hand.")),
        "gflops": {l: round(stage.gflops(l, gate=d.exit_mode == "gate"), 4) for l in range(1, cfg.max_loops + 1)},
        "stage_mflops": {k: round(v / 1e6, 3) for k, v in asdict(stage).items()},
        "config": {"preset": cfg.preset, "input_res": res, "max_loops": cfg.max_loops,
                   "loop_point": cfg.loop_point, "feedback": cfg.feedback},
        "defaults": asdict(d), "weights": weights, "backend": config.backend, "threads": threads[0],
        "threads_rule": threads[1], "int8_stages": list(engines["int8"].plan.stages) if "int8" in engines else [],
        "frames": timed, "warmup": config.warmup, "torch": torch.__version__,
        "cpu": f"{os.cpu_count()} logical CPUs", "load_avg_1min": round(os.getloadavg()[0], 2),
    }
    if trackers:
        report["ratios"] = {**report["ratios"], "targets": {"dirnet_vs_lite": TARGET_DIRNET_VS_LITE,
                                                            "pipeline_vs_full": TARGET_PIPELINE_VS_FULL}}
    return report


def _accuracy(config: BenchConfig, engines: dict, stage, policy) -> dict | None:
    """int8 against fp32 on config.accuracy's labelled crops (None without int8 or data)."""
    if "int8" not in engines or not config.accuracy:
        return None
    try:
        result = compare_precisions(engines["fp32"], engines["int8"], stage, config.accuracy, policy,
                                    config.accuracy_limit)
    except (FileNotFoundError, ValueError) as exc:
        log.warning("accuracy not measured: %s", exc)
        return None
    return {"data": config.accuracy, **asdict(result)}


def format_table(report: dict) -> str:
    """The report as an aligned plain-text table (wall-clock ms: median and 90th percentile; CPU
    medians per frame and CPU-time ratios beside the wall-clock ones)."""
    lat = report["latency_ms"]
    c = report["config"]
    precisions = list(report["precisions"])
    lines = [f"DIR-Net {c['preset']} @ {c['input_res']} px, weights: {report['weights']}",
             f"backend {report['backend']}, {report['threads']} thread(s) ({report['threads_rule']}), "
             f"{report['frames']} frames (+{report['warmup']} warm-up), params {report['params']:,}, "
             f"int8 stages: {', '.join(report['int8_stages']) or 'none (no int8 plan)'}",
             "", f"{'DIR-Net per crop':17} " + " ".join(f"{p + ' med':>9} {'p90':>6}" for p in precisions)
             + f" {'eager med':>9} {'p90':>6} {'GFLOPs':>6} {'loops':>9}"]
    for key in [k[5:] for k in lat if k.startswith("fp32 ")]:
        row = " ".join(f"{lat[f'{p} {key}']['median']:>9.2f} {lat[f'{p} {key}']['p90']:>6.2f}"
                       for p in precisions)
        eager = lat[f"eager {key}"]
        if key.startswith("loops="):
            loops = int(key.split("=")[1])
            gflops, used = f"{report['gflops'][loops]:.3f}", str(loops)
        else:
            gflops = ""
            used = "/".join(f"{report['precisions'][p]['mean_loops'][key]:.2f}" for p in precisions)
        lines.append(f"{key:17} {row} {eager['median']:>9.2f} {eager['p90']:>6.2f} {gflops:>6} {used:>9}")
    lines += ["", f"{'per frame':22} {'median':>8} {'p90':>6} {'CPU med':>8}"]
    rows = [("mediapipe_lite", "MediaPipe lite"), ("mediapipe_full", "MediaPipe full")]
    rows += [(f"pipeline_{n} {p}", f"pipeline {n} hand{'s*' if n == 2 else ''} {p}")
             for p in precisions for n in (1, 2)]
    for key, label in rows:
        if key in lat:
            lines.append(f"{label:22} {lat[key]['median']:>8.2f} {lat[key]['p90']:>6.2f} "
                         f"{report['cpu_ms'][key]['median']:>8.2f}")
    lines.append("* the second hand is the first hand's box again, run as a left hand (its mirror image)")
    if "ratios" in report:
        verdict = lambda v, t: "meets" if v <= t else "MISSES"  # noqa: E731
        lines += ["", f"ratios of medians (exit={report['defaults']['exit_mode']}), same run:"]
        for p in precisions:
            r, u = report["precisions"][p]["ratios"], report["precisions"][p]["cpu_ratios"]
            lines += [f"{p}: DIR-Net per crop / MediaPipe lite = {r['dirnet_vs_lite']:.2f}  target <= "
                      f"{TARGET_DIRNET_VS_LITE}: {verdict(r['dirnet_vs_lite'], TARGET_DIRNET_VS_LITE)}"
                      f"  (CPU time: {u['dirnet_vs_lite']:.2f})",
                      f"{p}: pipeline 1 hand / MediaPipe full = {r['pipeline_vs_full']:.2f}  target <= "
                      f"{TARGET_PIPELINE_VS_FULL}: {verdict(r['pipeline_vs_full'], TARGET_PIPELINE_VS_FULL)}"
                      f"  (CPU time: {u['pipeline_vs_full']:.2f})"]
        lines.append(f"MediaPipe found the hand in: {report['mediapipe_hand_found']}")
    acc = report["accuracy"]
    if acc:
        lines += ["", f"int8 vs fp32 on {acc['n']} hands of {acc['data']} (relative change; + is worse):"]
        lines.append("  " + ", ".join(f"{k} {100 * v:+.2f}%" for k, v in acc["delta"].items()))
    return "\n".join(lines)


def _parse(argv: list[str] | None) -> BenchConfig:
    parser = argparse.ArgumentParser(prog="python -m dirnet.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of the table")
    parser.add_argument("--weights", type=Path, help="checkpoint stem (default: shipped, else untrained)")
    parser.add_argument("--frames", type=int, help="timed frames (default: all after the warm-up)")
    parser.add_argument("--warmup", type=int, default=BenchConfig.warmup, help="untimed first frames")
    parser.add_argument("--threads", type=int, help="torch and ONNX Runtime intra-op threads "
                        "(default: chosen for this machine, see dirnet.runtime.auto_threads)")
    parser.add_argument("--backend", choices=BACKENDS, default=BenchConfig.backend)
    parser.add_argument("--preset", choices=("fpha", "stb"),
                        help="time an untrained model of this preset (to choose one before training)")
    parser.add_argument("--res", dest="input_res", type=int,
                        help="time an untrained model at this input size (a multiple of 32)")
    parser.add_argument("--no-mediapipe", dest="mediapipe", action="store_false",
                        help="skip the MediaPipe comparison")
    parser.add_argument("--no-int8", dest="int8", action="store_false", help="time fp32 only")
    parser.add_argument("--accuracy", default=BenchConfig.accuracy,
                        help="labelled data spec scored in int8 and fp32 ('' to skip)")
    parser.add_argument("--accuracy-limit", type=int, default=BenchConfig.accuracy_limit,
                        help="hands scored for the accuracy delta")
    parser.add_argument("--video", type=Path, default=BenchConfig.video)
    parser.add_argument("--landmarks", type=Path, default=BenchConfig.landmarks)
    args = parser.parse_args(argv)
    if args.frames is not None and args.frames < 1:
        parser.error(f"--frames must be >= 1, got {args.frames}")
    if args.warmup < 0 or (args.threads is not None and args.threads < 1) or args.accuracy_limit < 1:
        parser.error("--warmup must be >= 0, --threads and --accuracy-limit >= 1")
    return BenchConfig(**vars(args))


def main(argv: list[str] | None = None) -> int:
    config = _parse(argv)
    configure_logging()
    threads = (config.threads, "--threads") if config.threads else auto_threads()
    configure_threads(threads[0])
    try:
        estimators, weights = _load_estimators(config, threads[0])
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc), EXIT_USAGE)
    try:
        report = run_bench(config, estimators, weights, threads)
    except (FileNotFoundError, ValueError, OSError) as exc:
        return fail(str(exc))
    print(json.dumps(report) if config.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
