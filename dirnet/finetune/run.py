"""One fine-tune of DIR-Net on a user's recordings: labels, held-out slice, training, gate, files.

`finetune(FinetuneConfig)` does, in order:

1. labels every frame with the MediaPipe teacher (dirnet.data.teacher), skipping frames without a
   confident hand, and refuses inputs with fewer than `min_frames` such frames (TooFewFrames);
2. holds out the last stretch of every input (a time-contiguous slice) for validation;
3. scores the starting weights (default: the shipped ones) on the frames it will fit, the held-out
   slice, synthetic renders of random poses and the checks (by default the ASL clip, when
   ../shared has it);
4. fine-tunes for about `minutes`, every refiner pass supervised, each batch half the user's
   crops (augmented as in training) and half new synthetic renders of random poses, so poses the
   recording lacks are not forgotten; the starting model's own outputs are targets too (its 2D on
   the renders, its 3D everywhere: dirnet.finetune.anchor); BatchNorm statistics stay the base model's;
5. blends the fine-tuned weights with the starting ones (dirnet.finetune.blend): the most
   conservative blend that keeps `keep_gain` of the best gain on the held-out slice, so the model
   forgets less of what it knew elsewhere;
6. retrains the exit gate on the user's frames (dirnet.training.gate), scores again, and writes
   OUT/finetuned.safetensors + OUT/finetuned.json (provenance: inputs, steps, samples, the blend,
   the numbers before and after).

OUT is built as a hidden folder beside it and renamed into place when complete, so an interrupted
or failed run leaves nothing behind.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from ..config import DataSource, TrainConfig
from ..estimator import DEFAULT_WEIGHTS
from ..evaluation.benchmark import ASL_CLIP, asl_clip_spec, checkpoint_trained_on
from ..evaluation.sources import open_source, parse_spec
from ..flops import count_stage_flops
from ..io import publish_folder, temp_folder_beside
from ..models.dirnet import DIRNet
from ..training.data import TrainData
from ..training.gate import DEFAULT_TAU_GATES, GateCache, GateTrainConfig, fit_gate, gate_logits
from ..training.loop import Stage, configure_stage, cosine_decay, train_step
from ..weights import checkpoint_paths, load_checkpoint, save_checkpoint
from .anchor import make_anchor
from .blend import BLEND_GRID, blend_state, choose_blend
from .data import LabelledSplit, count_items, label_and_split, resolve_inputs
from .score import Score, open_checks, score, score_table, synthetic_source

__all__ = ["ADAPT", "CHECKPOINT_NAME", "FinetuneConfig", "FinetuneProgress", "FinetuneResult", "finetune",
           "freeze_all_but"]

CHECKPOINT_NAME = "finetuned"  # DIR/finetuned.safetensors + DIR/finetuned.json
_LOSS_WINDOW = 5  # steps averaged for the first and last training loss in the provenance
_SECONDS_PER_ITEM = 0.03  # first guess of the teacher's time per frame, until it has a rate

# What a fine-tune adapts, by the names of DIRNet's parts; the gate is refitted afterwards anyway.
ADAPT = {
    "early": ("stem", "fe_stages"),  # the feature extractor: a new hand's, room's and camera's look
    "features": ("stem", "fe_stages", "rf_stages", "feedback", "readout"),  # all but the heads
    "all": ("stem", "fe_stages", "rf_stages", "feedback", "readout", "pose_head", "var_head"),
}


@dataclass(frozen=True)
class FinetuneConfig:
    """Everything one fine-tune needs (the CLI's arguments)."""

    inputs: tuple[Path, ...]  # recording session folders, videos, image folders
    out: Path  # folder to create for the weights
    minutes: float = 6.0  # time spent fine-tuning (labelling, scoring and the gate come on top)
    weights: Path | None = None  # starting checkpoint; None = the shipped weights
    max_steps: int | None = None  # stop after this many steps even with time left (tests, reruns)
    batch_size: int = 32
    synth_share: float = 0.5  # share of each batch rendered on the fly (random poses: not forgetting)
    anchor: float = 1.0  # weight of the starting model's outputs as targets (dirnet.finetune.anchor; 0: off)
    lr: float = 1e-4  # peak learning rate: 3e-4 forgot twice as much elsewhere (docs/FINETUNE.md)
    warmup_steps: int = 10  # linear warm-up; then cosine decay over the time budget
    val_fraction: float = 0.2  # held out at the end of every input
    min_frames: int = 100  # fewer confident hands than this: refuse
    min_score: float = 0.6  # MediaPipe's detection/presence threshold and the handedness score kept
    frame_step: int = 1  # label every n-th video frame
    fit_limit: int = 300  # most fine-tuned frames scored (and the gate trained on)
    synth_checks: int = 128  # synthetic renders scored before and after (0: none)
    checks: tuple[str, ...] | None = None  # dirnet.evaluation specs scored; None = the ASL clip if present
    threads: int = 0  # torch CPU threads; 0 = torch's default
    nice: int = 0  # raise this process's niceness first (the app passes 10: tracking keeps priority)
    seed: int = 0
    adapt: str = "features"  # the weights that learn: a key of ADAPT
    blend: float | None = None  # weight of the fine-tuned weights against the starting ones; None = chosen
    keep_gain: float = 0.9  # the chosen blend keeps this share of the best gain on the held-out slice
    overwrite: bool = False  # replace an existing DIR (only once the new one is complete)

    def __post_init__(self) -> None:
        if (self.minutes <= 0 or not 0.0 <= self.synth_share < 1.0 or not 0.0 < self.val_fraction < 0.9
                or self.anchor < 0):
            raise ValueError(f"bad settings: minutes={self.minutes} synth_share={self.synth_share} "
                             f"val_fraction={self.val_fraction} anchor={self.anchor}")
        if (self.blend is not None and not 0.0 <= self.blend <= 1.0) or not 0.0 < self.keep_gain <= 1.0:
            raise ValueError(f"bad settings: blend={self.blend} keep_gain={self.keep_gain} (0..1 both)")
        if self.adapt not in ADAPT:
            raise ValueError(f"bad settings: adapt={self.adapt!r} (one of {', '.join(ADAPT)})")
        if self.batch_size < 2 or self.min_frames < 10 or (self.max_steps is not None and self.max_steps < 1):
            raise ValueError(f"bad settings: batch_size={self.batch_size} min_frames={self.min_frames} "
                             f"max_steps={self.max_steps}")


@dataclass(frozen=True)
class FinetuneProgress:
    """Where a run is: its phase ("label", "score", "train", "gate", "write"), the share of the
    whole run done, the seconds left (None while unknown) and a line for people."""

    phase: str
    fraction: float
    eta_s: float | None
    message: str


@dataclass
class FinetuneResult:
    """A finished run: the weights file, training counts and the scores before and after."""

    path: Path
    steps: int
    samples: int
    train_minutes: float
    total_minutes: float
    cpu_minutes: float  # CPU time of the whole run: its wall time on an idle machine, one thread
    frames: dict[str, int]
    before: dict[str, Score]
    after: dict[str, Score]
    blend: float  # weight of the fine-tuned weights in the result (0: the starting weights)
    problems: list[str] = field(default_factory=list)


class _Clock:
    """Share done and time left of the whole run, from each phase's expected duration (refined
    as phases finish and from the current phase's own rate)."""

    def __init__(self, expected: dict[str, float], report: Callable[[FinetuneProgress], None]):
        self.expected = dict(expected)
        self.report = report
        self.start = time.monotonic()
        self.phase, self.phase_start = "", self.start

    def begin(self, phase: str) -> None:
        self.phase, self.phase_start = phase, time.monotonic()

    def expect(self, phase: str, seconds: float) -> None:
        self.expected[phase] = seconds

    def tell(self, done: float | None, message: str) -> None:
        """`done`: share of the current phase finished (None: unknown)."""
        now = time.monotonic()
        elapsed = now - self.phase_start
        if done:
            left_here = elapsed * (1.0 - done) / done
        else:
            left_here = max(self.expected.get(self.phase, 0.0) - elapsed, 0.0)
        phases = list(self.expected)
        later = phases[phases.index(self.phase) + 1:] if self.phase in phases else []
        eta = left_here + sum(self.expected[p] for p in later)
        fraction = (now - self.start) / max(now - self.start + eta, 1e-9)
        self.report(FinetuneProgress(self.phase, min(fraction, 1.0), eta, message))


def freeze_all_but(model: DIRNet, adapt: str) -> None:
    """Freeze every part of `model` that ADAPT[adapt] does not name. The heads hold the pose prior
    learnt from all the data: keeping them forgets less elsewhere (docs/FINETUNE.md, measured)."""
    for name, part in model.named_children():
        if name not in ADAPT[adapt]:
            part.requires_grad_(False)


def _train_data(train_dir: Path, model: DIRNet, cfg: FinetuneConfig) -> tuple[TrainData, TrainConfig]:
    """Batches of the user's crops (training augmentation) and on-the-fly renders (dirnet.training.data)."""
    sources = [DataSource("teacher", str(train_dir), 1.0 - cfg.synth_share)]
    if cfg.synth_share > 0:
        sources.append(DataSource("synth", weight=cfg.synth_share))
    train_cfg = TrainConfig(model=model.cfg, protocol="end_to_end", stage_steps=(1,) * model.cfg.max_loops,
                            batch_size=cfg.batch_size, lr=cfg.lr, warmup_steps=cfg.warmup_steps,
                            sources=tuple(sources), val_fraction=0.0, seed=cfg.seed, device="cpu")
    return TrainData(train_cfg), train_cfg


def _fit(model: DIRNet, data: TrainData, train_cfg: TrainConfig, cfg: FinetuneConfig, clock: _Clock
         ) -> tuple[int, list[float]]:
    """Fine-tune in place until the time budget (or max_steps) is spent; returns (steps, losses)."""
    loops = model.cfg.max_loops
    renders = slice(cfg.batch_size - data.synth_count, None)  # each batch's last rows (none: empty)
    anchor = make_anchor(model, renders, cfg.anchor) if cfg.anchor else None
    opt = configure_stage(model, train_cfg, Stage(0, loops, 0, 0), fresh=True)
    freeze_all_but(model, cfg.adapt)
    model.to(memory_format=torch.channels_last).train()  # as dirnet.train: faster convolutions on the CPU
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            # Keep the statistics the model learnt on all its data: small batches of one person
            # and renders would drag them (and every other pose's accuracy) towards themselves.
            module.eval()
    budget = cfg.minutes * 60.0
    losses: list[float] = []
    start = time.monotonic()
    with tqdm(total=round(budget), desc="fine-tune", unit="s", disable=None,
              bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s [{elapsed}<{remaining}{postfix}]") as bar:
        while True:
            elapsed = time.monotonic() - start
            done = max(elapsed / budget, len(losses) / cfg.max_steps if cfg.max_steps else 0.0)
            bar.update(min(round(elapsed), bar.total) - bar.n)
            if done >= 1.0:
                break
            step = len(losses)
            factor = (step + 1) / cfg.warmup_steps if step < cfg.warmup_steps else cosine_decay(done)
            loss, _ = train_step(model, model, opt, data.batch(step), loops, factor, extra=anchor)
            losses.append(float(loss.detach()))
            bar.set_postfix(step=step + 1, loss=f"{losses[-1]:.2f}")
            clock.tell(done, f"fine-tuning: step {step + 1}, loss {losses[-1]:.2f}")
    model.eval()
    return len(losses), losses


def _sources(split: LabelledSplit, model: DIRNet, cfg: FinetuneConfig) -> tuple:
    """(fine-tune frames, held-out slice, {name: other source}, problems) scored before and after:
    the others are the synthetic renders and the --check specs (by default the ASL clip, if here)."""
    res = model.cfg.input_res
    fit_source = open_source(parse_spec(f"teacher:{split.fit}"), res)
    val_source = open_source(parse_spec(f"teacher:{split.val}"), res)
    checks = list(cfg.checks) if cfg.checks is not None else (
        [asl_clip_spec(Path(ASL_CLIP))] if Path(ASL_CLIP).is_file() else [])
    others, problems = open_checks(checks, res)
    if cfg.synth_checks:
        others = {"synthetic": synthetic_source(model, cfg.synth_checks), **others}
    return fit_source, val_source, others, problems


def _score_all(model: DIRNet, sources: dict, tau_gate: float) -> dict[str, Score]:
    return {name: score(model, source, tau_gate)[0] for name, source in sources.items()}


def _blend(model: DIRNet, start: dict[str, torch.Tensor], val_source, start_err: float,
           cfg: FinetuneConfig, clock: _Clock) -> dict:
    """Load into `model` its blend with the starting weights `start`: cfg.blend, or the alpha chosen
    on the held-out slice (`start_err`: the starting weights' error there); returns the record."""
    tuned = {k: v.clone() for k, v in model.state_dict().items()}
    errors = {0.0: start_err}
    if cfg.blend is None:
        for alpha in BLEND_GRID[1:]:
            clock.tell(None, f"blending with the starting weights: {alpha:.1f}")
            model.load_state_dict(blend_state(start, tuned, alpha))
            errors[alpha] = score(model, val_source, 1.0)[0].err2d
    alpha = cfg.blend if cfg.blend is not None else choose_blend(errors, cfg.keep_gain)
    model.load_state_dict(blend_state(start, tuned, alpha))
    return {"alpha": alpha, "chosen_by": "--blend" if cfg.blend is not None else "held-out slice",
            "keep_gain": cfg.keep_gain, "held_out_err2d": {f"{a:.1f}": round(e, 3) for a, e in errors.items()}}


def _refit_gate(model: DIRNet, fit_source, val_source, seed: int) -> tuple[dict[str, Score], dict, dict]:
    """Retrain the gate on the fine-tuned model's outputs for the user's frames (judged on the
    held-out slice at each default tau_gate; the base model's gate stays unless a new one meets the
    targets); returns those two sources' scores with the chosen gate, its record and the exit defaults."""
    stage = count_stage_flops(model)
    _, fit_table = score(model, fit_source, 1.0)
    _, val_table = score(model, val_source, 1.0)
    caches = [GateCache.from_table(t, stage) for t in (fit_table, val_table)]
    model.gate.requires_grad_(True)  # the fine-tune froze it (dirnet.training.loop.configure_stage)
    best, rows, tau_var = fit_gate(model.gate, *caches, cfg=GateTrainConfig(seed=seed), keep_start=True,
                                   taus=DEFAULT_TAU_GATES)
    scores = {name: score_table(replace(table, gate_logits=gate_logits(model.gate, cache)), model, best["tau_gate"])
              for name, table, cache in (("fine-tune frames", fit_table, caches[0]),
                                         ("held-out slice", val_table, caches[1]))}
    record = {"lambda": best["lambda"], "tau_gate": best["tau_gate"], "kept_base_gate": best["lambda"] is None,
              "data": "the fine-tune frames", "held_out": "the held-out slice", "results": rows,
              "train_samples": len(caches[0]), "held_out_samples": len(caches[1]),
              "meets_target": best["meets_target"]}
    defaults = {"exit_mode": "gate", "tau_var": tau_var, "tau_gate": best["tau_gate"], "max_loops": model.cfg.max_loops}
    return scores, record, defaults


def _metadata(meta: dict, base: Path, media: list[Path], cfg: FinetuneConfig, defaults: dict, gate: dict,
              record: dict) -> dict:
    """The new checkpoint's JSON: the base's training record (with these inputs added to what it
    was trained on), the new gate's defaults and training, and the fine-tune's provenance."""
    kept = {k: v for k, v in meta.items() if k not in ("format", "config", "hand_model", "defaults", "gate_training")}
    training = dict(meta.get("training", {}))
    training["trained_on"] = checkpoint_trained_on(meta) + [
        {"kind": "teacher", "path": str(m.resolve()), "poses": ""} for m in media]
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()
                if k not in ("inputs", "out", "weights")}
    return {**kept, "training": training, "defaults": defaults, "gate_training": gate,
            "finetune": {"base_weights": str(base), "inputs": [str(m.resolve()) for m in media],
                         "settings": settings, **record}}


def finetune(cfg: FinetuneConfig, report: Callable[[FinetuneProgress], None] = lambda p: None
             ) -> FinetuneResult:
    """Run one fine-tune (module docstring) and publish cfg.out.

    Args:
        cfg: the run's settings.
        report: called with the run's progress (often: every training step).
    Raises:
        FileExistsError: cfg.out exists and cfg.overwrite is False.
        TooFewFrames: too few frames with a confident hand (a ValueError).
        ValueError, FileNotFoundError: a missing or unusable input or starting checkpoint.
        KeyboardInterrupt: passed on after removing everything the run wrote.
    """
    started, cpu_started = time.monotonic(), time.process_time()
    if cfg.out.exists() and not cfg.overwrite:
        raise FileExistsError(f"{cfg.out} exists (pass --overwrite to replace it)")
    media = resolve_inputs(list(cfg.inputs))
    base = checkpoint_paths(cfg.weights or DEFAULT_WEIGHTS)[0].resolve()
    model, meta = load_checkpoint(base)
    if cfg.nice:
        os.nice(cfg.nice)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    items = count_items(media)
    clock = _Clock({"label": items * _SECONDS_PER_ITEM, "score": 30.0, "train": cfg.minutes * 60.0,
                    "gate": 40.0, "write": 1.0}, report)
    tmp = temp_folder_beside(cfg.out)
    try:
        clock.begin("label")
        seen = [0]

        def tick() -> None:
            seen[0] += 1
            if seen[0] % 10 == 0:
                clock.tell(seen[0] / items if items else None, f"labelling with MediaPipe: {seen[0]} of {items} frames")

        split = label_and_split(media, tmp, cfg.min_score, cfg.min_frames, cfg.val_fraction, cfg.fit_limit,
                                cfg.frame_step, tick)
        clock.begin("score")
        clock.tell(None, "scoring the starting weights")
        fit_source, val_source, others, problems = _sources(split, model, cfg)
        sources = {"fine-tune frames": fit_source, "held-out slice": val_source, **others}
        tau_gate = meta.get("defaults", {}).get("tau_gate", 1.0)
        score_start = time.monotonic()
        before = _score_all(model, sources, tau_gate)
        score_s = time.monotonic() - score_start
        val_share = len(val_source) / max(sum(len(s) for s in sources.values()), 1)
        # the same sources again plus the gate, and the held-out slice once per blend tried
        clock.expect("gate", score_s * (1.3 + (0 if cfg.blend is not None else len(BLEND_GRID) * val_share)))

        clock.begin("train")
        data, train_cfg = _train_data(split.train, model, cfg)
        start_state = {k: v.clone() for k, v in model.state_dict().items()}
        train_start, train_cpu = time.monotonic(), time.process_time()
        steps, losses = _fit(model, data, train_cfg, cfg, clock)
        train_minutes = (time.monotonic() - train_start) / 60.0
        train_cpu = time.process_time() - train_cpu

        clock.begin("gate")
        blend = _blend(model, start_state, val_source, before["held-out slice"].err2d, cfg, clock)
        if blend["alpha"] == 0.0:
            problems.append("the fine-tune did not improve the held-out slice: the weights are the starting ones")
        clock.tell(None, "retraining the exit gate and scoring the new weights")
        after, gate_record, defaults = _refit_gate(model, fit_source, val_source, cfg.seed)
        after.update(_score_all(model, others, defaults["tau_gate"]))
        after = {name: after[name] for name in before}

        clock.begin("write")
        record = {
            "frames": split.frames, "teacher": split.stats.summary(),
            "steps": steps, "samples": steps * cfg.batch_size, "synthetic_samples": steps * data.synth_count,
            "threads": torch.get_num_threads(), "blend": blend,
            "loss": {"first": float(np.mean(losses[:_LOSS_WINDOW])), "last": float(np.mean(losses[-_LOSS_WINDOW:]))},
            "validation": {"before": {k: v.to_dict() for k, v in before.items()},
                           "after": {k: v.to_dict() for k, v in after.items()}},
            "problems": problems,
            "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "minutes": {"train": round(train_minutes, 2), "total": round((time.monotonic() - started) / 60.0, 2)},
            # CPU time says what the run costs on an idle machine when other jobs share this one
            "cpu_minutes": {"train": round(train_cpu / 60.0, 2),
                            "total": round((time.process_time() - cpu_started) / 60.0, 2)},
        }
        for folder in ("labels", "train", "val", "fit"):
            shutil.rmtree(tmp / folder)  # the user's crops stay with their recording, not the weights
        save_checkpoint(model, tmp / CHECKPOINT_NAME, _metadata(meta, base, media, cfg, defaults, gate_record, record))
        publish_folder(tmp, cfg.out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    clock.tell(1.0, f"wrote {cfg.out}")
    return FinetuneResult(checkpoint_paths(cfg.out)[0], steps, steps * cfg.batch_size, train_minutes,
                          (time.monotonic() - started) / 60.0, (time.process_time() - cpu_started) / 60.0,
                          split.frames, before, after, blend["alpha"], problems)
