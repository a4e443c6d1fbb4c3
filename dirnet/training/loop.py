"""The training loop: progressive (Algorithm 1) or end-to-end training (`python -m dirnet.training`).

Runs on the CPU, one CUDA GPU, or several with `torchrun --nproc_per_node N -m dirnet.training ...`
(DistributedDataParallel). Writes to cfg.out_dir: `train.csv`, TensorBoard events under `tb/`,
`last.*` (resumable state, safetensors), `stage{l}.*` after each stage and `final.*` checkpoints,
and `loss_curves.png`. Rerunning the same command resumes from `last.*`.
"""
from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from ..config import TrainConfig
from ..hand import create_hand_model
from ..io import atomic_write
from ..models.dirnet import DIRNet
from ..models.staged import LoopOutput
from ..weights import load_checkpoint, read_metadata, save_checkpoint
from .data import TrainData
from .heatmap import HeatmapProbe
from .losses import LossTargets, LossWeights, position_loss, total_loss
from .mixstyle import attach_mixstyle

__all__ = ["train", "load_config", "stage_plan", "trained_on", "Stage", "configure_stage", "train_step",
           "cosine_decay"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stage:
    index: int
    num_loops: int  # refiner passes trained in this stage (l_prog + 1)
    steps: int
    start: int  # global step at which the stage begins


def stage_plan(cfg: TrainConfig) -> list[Stage]:
    """Progressive: one stage per l_prog = 0..l_max. End-to-end: one stage of all loops, same steps."""
    if cfg.protocol == "end_to_end":
        return [Stage(0, cfg.model.max_loops, sum(cfg.stage_steps), 0)]
    stages, start = [], 0
    for i, steps in enumerate(cfg.stage_steps):
        stages.append(Stage(i, i + 1, steps, start))
        start += steps
    return stages


def load_config(path: str | None, overrides: dict) -> TrainConfig:
    """Read a YAML/JSON config file (or none) and apply flag overrides on top."""
    data: dict = {}
    if path:
        text = Path(path).read_text()
        if path.endswith((".yaml", ".yml")):
            import yaml
            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
    for key, value in overrides.items():
        if value is not None:
            data[key] = value
    return TrainConfig.from_dict(data)


def _distributed() -> tuple[int, int]:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _device(cfg: TrainConfig, rank: int) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        torch.cuda.set_device(rank % torch.cuda.device_count())
        return torch.device("cuda", rank % torch.cuda.device_count())
    return torch.device("cpu")


def configure_stage(model: DIRNet, cfg: TrainConfig, stage: Stage, fresh: bool) -> torch.optim.Optimizer:
    """Freeze/unfreeze per Algorithm 1 and build the stage's optimizer.

    Progressive stages after the first freeze FE, initialise the new loop's BatchNorms from the
    previous loop's (the paper adds a fresh BN; copying its statistics avoids a cold start), and
    scale every learning rate by prog_lr_decay**l except the AMG's.
    """
    progressive = cfg.protocol == "progressive"
    l_prog = stage.num_loops - 1
    if fresh and progressive and l_prog > 0:
        for norm in (m for m in model.rf_stages.modules() if hasattr(m, "norms")):
            norm.norms[l_prog].load_state_dict(norm.norms[l_prog - 1].state_dict())
    frozen_fe = progressive and l_prog > 0
    for p in list(model.stem.parameters()) + list(model.fe_stages.parameters()):
        p.requires_grad_(not frozen_fe)
    for p in model.feedback.parameters():
        p.requires_grad_(stage.num_loops > 1)  # AMG is unused without a second loop
    # Later loops' BatchNorms get no gradient yet; DistributedDataParallel must not wait for one.
    for norm in (m for m in model.rf_stages.modules() if hasattr(m, "norms")):
        for loop, bn in enumerate(norm.norms):
            bn.requires_grad_(loop < stage.num_loops)
    for p in model.gate.parameters():
        p.requires_grad_(False)  # trained afterwards by REINFORCE (dirnet.training.gate)
    decay = cfg.prog_lr_decay ** l_prog if progressive else 1.0
    amg = [p for p in model.feedback.parameters() if p.requires_grad]
    amg_ids = {id(p) for p in amg}
    rest = [p for p in model.parameters() if p.requires_grad and id(p) not in amg_ids]
    groups = [{"params": rest, "lr": cfg.lr * decay, "base_lr": cfg.lr * decay}]
    if amg:
        groups.append({"params": amg, "lr": cfg.lr, "base_lr": cfg.lr})
    return torch.optim.AdamW(groups, weight_decay=cfg.weight_decay)


def _set_train_mode(model: DIRNet, cfg: TrainConfig, stage: Stage) -> None:
    model.train()
    if cfg.protocol == "progressive" and stage.num_loops > 1:
        model.stem.eval()  # frozen FE keeps its BatchNorm statistics too
        model.fe_stages.eval()


def _lr_factor(cfg: TrainConfig, stage: Stage, step_in_stage: int) -> float:
    """Linear warm-up, then constant or cosine decay to 5% within each stage."""
    warm = min(cfg.warmup_steps, max(stage.steps // 5, 1))
    if step_in_stage < warm:
        return (step_in_stage + 1) / warm
    if cfg.lr_schedule == "constant":
        return 1.0
    return cosine_decay((step_in_stage - warm) / max(stage.steps - warm, 1))


def cosine_decay(t: float) -> float:
    """Learning-rate factor at fraction t of the decay: 1 at t = 0, cosine down to 5% at t >= 1."""
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def trained_on(cfg: TrainConfig) -> list[dict]:
    """Every data source the weights have seen: this config's and, through `init`, its ancestors'
    (so a benchmark can tell held-out data from data some earlier run trained on)."""
    seen = [{"kind": s.kind, "path": s.path, "poses": s.poses} for s in cfg.sources]
    if cfg.init:
        training = read_metadata(cfg.init).get("training", {})
        earlier = training.get("trained_on") or training.get("config", {}).get("sources", [])
        seen += [{"kind": s["kind"], "path": s.get("path", ""), "poses": s.get("poses", "")} for s in earlier]
    return [dict(t) for t in dict.fromkeys(tuple(sorted(s.items())) for s in seen)]


def _save_weights(path: Path, model: DIRNet, step: int, cfg: TrainConfig) -> None:
    save_checkpoint(model, path, {"training": {"step": step, "config": cfg.to_dict(), "trained_on": trained_on(cfg)}})


def _save_state(out: Path, model: DIRNet, opt: torch.optim.Optimizer, step: int, cfg: TrainConfig,
                probe: HeatmapProbe | None = None) -> None:
    _save_weights(out / "last", model, step, cfg)
    if probe is not None:
        atomic_write(out / "last_probe.safetensors", lambda tmp: save_file(probe.state_dict(), str(tmp)))
    tensors = {}
    for i, state in opt.state_dict()["state"].items():
        for key, value in state.items():
            value = value.detach().cpu()
            tensors[f"{i}.{key}"] = value.reshape(-1) if key == "step" else value.contiguous()
    atomic_write(out / "last_optim.safetensors", lambda tmp: save_file(tensors, str(tmp)))


def _load_optimizer(out: Path, opt: torch.optim.Optimizer) -> None:
    path = out / "last_optim.safetensors"
    if not path.is_file():
        return
    tensors = load_file(str(path))
    state: dict[int, dict] = {}
    for name, value in tensors.items():
        i, key = name.split(".", 1)
        state.setdefault(int(i), {})[key] = value.reshape(()) if key == "step" else value
    sd = opt.state_dict()
    try:
        opt.load_state_dict({"state": state, "param_groups": sd["param_groups"]})
    except (ValueError, KeyError, RuntimeError) as exc:  # a different stage's optimizer: start fresh
        log.warning("optimizer state not restored (%s)", exc)


def _targets(batch: dict, device: torch.device) -> LossTargets:
    return LossTargets(joints2d=batch["joints2d"].to(device), joints3d=batch["joints3d"].to(device),
                       has2d=batch["has2d"].to(device), has3d=batch["has3d"].to(device))


@torch.no_grad()
def _validate(model: DIRNet, data: TrainData, device: torch.device, num_loops: int) -> dict[str, float]:
    """Mean 2D error (px of a 224 crop) and wrist-relative 3D error (mm) after each loop."""
    model.eval()
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for batch in data.val_batches():
        images = batch["image"].to(device)
        target = _targets(batch, device)
        for l, out in enumerate(model(images, num_loops)):
            err2d = (out.joints2d - target.joints2d).norm(dim=-1).mean(-1) * 224 / model.cfg.input_res
            gt3d = target.joints3d - target.joints3d[:, :1]
            err3d = (out.joints3d - gt3d).norm(dim=-1).mean(-1)
            for key, err, mask in ((f"val_err2d_l{l}", err2d, target.has2d), (f"val_err3d_l{l}", err3d, target.has3d)):
                sums[key] = sums.get(key, 0.0) + float((err * mask).sum())
                counts[key] = counts.get(key, 0.0) + float(mask.sum())
    return {k: sums[k] / counts[k] for k in sums if counts[k] > 0}


def _plot_curves(csv_path: Path, png_path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with csv_path.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, key, label in zip(axes, ("loss", "l2d", "l3d"),
                              ("total loss (sum over loops)", "L2D last loop (px, 224 crop)", "L3D last loop (mm^2)")):
        ax.plot(steps, [float(r[key]) for r in rows])
        ax.set_title(label)
        ax.set_xlabel("step")
        ax.set_yscale("log")
    for stage_start in sorted({int(r["stage_start"]) for r in rows})[1:]:
        for ax in axes:
            ax.axvline(stage_start, color="grey", lw=0.8, ls="--")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)


def train(cfg: TrainConfig) -> Path:
    """Train per cfg; returns the path of the final checkpoint's .safetensors."""
    rank, world = _distributed()
    device = _device(cfg, rank)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed + rank)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hand = create_hand_model(cfg.model.hand_model)
    if hand.num_shape != cfg.model.num_shape:
        raise ValueError(f"config num_shape {cfg.model.num_shape} != hand model's {hand.num_shape}")
    model = DIRNet(cfg.model, hand).to(device).to(memory_format=torch.channels_last)
    data = TrainData(cfg, rank=rank, world_size=world, device=device)
    if cfg.mixstyle:
        layers = [model.stem, *model.fe_stages]
        if cfg.mixstyle_depth > len(layers):
            raise ValueError(f"mixstyle_depth {cfg.mixstyle_depth}: the model has {len(layers)} layers "
                             "for it (the stem and the FE stages)")
        attach_mixstyle(model, layers[:cfg.mixstyle_depth], cfg.mixstyle, kind=cfg.mixstyle_kind)
    weights = LossWeights(heatmap=cfg.heatmap_weight)
    probe = None
    if cfg.heatmap_weight:
        if world > 1:  # outside DistributedDataParallel, each rank would train a probe of its own
            raise ValueError("heatmap_weight: the heatmap probe trains in one process only, not under torchrun")
        probe = HeatmapProbe(model.fe_stages[-1].conv2.out_channels, cfg.model.input_res).to(device)
        probe.attach(model.fe_stages[-1])
        if (out / "last_probe.safetensors").is_file():
            probe.load_state_dict(load_file(str(out / "last_probe.safetensors")))
    start_step = 0
    if cfg.init and not (out / "last.safetensors").is_file():
        model.load_state_dict(load_checkpoint(cfg.init, hand=hand, map_location=str(device))[0].state_dict())
        log.info("initialised from %s", cfg.init)
    if (out / "last.safetensors").is_file():
        resumed, meta = load_checkpoint(out / "last", hand=hand, map_location=str(device))
        model.load_state_dict(resumed.state_dict())
        start_step = int(meta["training"]["step"])
        if rank == 0:
            log.info("resuming %s at step %d", out, start_step)
    if rank == 0:
        (out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    writer = None
    if rank == 0:
        from torch.utils.tensorboard import SummaryWriter
        writer = SummaryWriter(str(out / "tb"))
    csv_path = out / "train.csv"
    fields = ["step", "stage", "stage_start", "lr", "loss", "l2d", "l3d", "var2d", "var3d", "img_per_s"]
    if rank == 0 and not csv_path.exists():
        with csv_path.open("w", newline="") as f:
            csv.writer(f).writerow(fields)
    autocast = (torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda"
                else torch.autocast("cpu", enabled=False))
    total_steps = sum(s.steps for s in stage_plan(cfg))
    bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", disable=rank != 0 or None)
    history: dict = {}
    for stage in stage_plan(cfg):
        end = stage.start + stage.steps
        if start_step >= end:
            continue
        fresh = start_step <= stage.start
        opt = configure_stage(model, cfg, stage, fresh)
        if probe is not None:  # a new layer beside pretrained ones: ten times their rate
            opt.add_param_group({"params": list(probe.parameters()), "lr": 10 * cfg.lr, "base_lr": 10 * cfg.lr})
        if not fresh:
            _load_optimizer(out, opt)
        net = model
        if world > 1:
            net = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None)
        _set_train_mode(model, cfg, stage)
        tick, seen = time.time(), 0
        for step in range(max(start_step, stage.start), end):
            batch = data.batch(step)
            loss, per_loop = train_step(net, model, opt, batch, stage.num_loops,
                                        _lr_factor(cfg, stage, step - stage.start), autocast, weights, probe)
            seen += batch["image"].shape[0] * world
            bar.update(1)
            if rank == 0 and (step + 1) % cfg.log_every == 0:
                rate = seen / (time.time() - tick)
                tick, seen = time.time(), 0
                last = {k: float(v.detach()) for k, v in per_loop[-1].items()}
                row = [step + 1, stage.index, stage.start, opt.param_groups[0]["lr"], float(loss.detach()),
                       last["l2d"], last["l3d"], last["var2d"], last["var3d"], rate]
                with csv_path.open("a", newline="") as f:
                    csv.writer(f).writerow(row)
                for name, value in zip(fields[3:], row[3:]):
                    writer.add_scalar(f"train/{name}", value, step + 1)
                bar.set_postfix(loss=f"{row[4]:.2f}", l2d=f"{last['l2d']:.2f}", ips=f"{rate:.0f}")
            if rank == 0 and (step + 1) % cfg.ckpt_every == 0 and step + 1 < end:
                _save_state(out, model, opt, step + 1, cfg, probe)
            if rank == 0 and cfg.keep_every and (step + 1) % cfg.keep_every == 0:
                _save_weights(out / f"step{step + 1}", model, step + 1, cfg)
        if rank == 0:
            metrics = _validate(model, data, device, stage.num_loops)
            history[f"stage{stage.index}"] = metrics
            for key, value in metrics.items():
                writer.add_scalar(f"val/{key}", value, end)
            log.info("stage %d (%d loops) validation: %s", stage.index, stage.num_loops,
                        {k: round(v, 2) for k, v in metrics.items()})
            save_checkpoint(model, out / f"stage{stage.index}", {"training": {
                "step": end, "validation": metrics, "trained_on": trained_on(cfg)}})
            _save_state(out, model, opt, end, cfg, probe)
        start_step = end
    bar.close()
    final = out / "final"
    if rank == 0:
        save_checkpoint(model, final, {"training": {"config": cfg.to_dict(), "trained_on": trained_on(cfg),
                                                    "validation": history,
                                                    "steps": total_steps, "world_size": world,
                                                    "device": str(device)}})
        _plot_curves(csv_path, out / "loss_curves.png")
        writer.close()
    if dist.is_initialized():
        dist.destroy_process_group()
    return final.with_suffix(".safetensors")


def train_step(net, model: DIRNet, opt: torch.optim.Optimizer, batch: dict, num_loops: int,
               lr_factor: float = 1.0, autocast=None, weights: LossWeights | None = None,
               probe: HeatmapProbe | None = None,
               extra: Callable[[torch.Tensor, list[LoopOutput]], torch.Tensor] | None = None
               ) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """One optimiser step on one batch, supervising every refiner pass (Eq. 12).

    Args:
        net: `model` itself or its DistributedDataParallel wrapper (what runs the forward pass).
        model: the DIRNet being trained.
        opt: its optimiser; every group's lr is set to its base_lr times lr_factor first.
        batch: a TrainData batch (image (B, 3, R, R) RGB in [0, 1], labels).
        num_loops: refiner passes to run and supervise.
        autocast: a torch.autocast context, or None for full precision.
        weights: the loss weights (None: the defaults).
        probe: a heatmap probe attached to the model's FE, whose loss (weight `weights.heatmap`) is
            added; its parameters must be in `opt`.
        extra: maps (images, per-loop outputs) to a loss term added to the total (e.g. a
            fine-tune's dirnet.finetune.anchor).
    Returns:
        (total loss, per-loop loss terms), as dirnet.training.losses.total_loss.
    """
    for group in opt.param_groups:
        group["lr"] = group["base_lr"] * lr_factor
    device = next(model.parameters()).device
    images = batch["image"].to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
    with autocast or contextlib.nullcontext():
        outputs = net(images, num_loops)
    weights = weights or LossWeights()
    targets = _targets(batch, device)
    outputs = [_float(o) for o in outputs]
    loss, per_loop = total_loss(outputs, targets, model.cfg.input_res, weights)
    if probe is not None:
        loss = loss + weights.heatmap * position_loss(probe(), targets, model.cfg.input_res, weights)
    if extra is not None:
        loss = loss + extra(images, outputs)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([*model.parameters(), *(probe.parameters() if probe is not None else ())], 5.0)
    opt.step()
    return loss, per_loop


def _float(out: LoopOutput) -> LoopOutput:
    """Losses in float32 even when the forward ran under bf16 autocast."""
    return out.apply(torch.Tensor.float)
