"""Batches for dirnet.training.loop: weighted mixture of file-based sources and on-the-fly renders.

File sources (teacher crops, synthetic render folders, public datasets) are decoded once into
memory (TensorHandDataset) and augmented per item; "synth" renders new hands every batch with
the pure-torch renderer on the training device. A fixed share of each file source, chosen by a
hash of the file name (stable across runs), is held out for validation.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import torch

from ..config import TrainConfig
from ..data.backgrounds import BackgroundBank
from ..data.compose import cut_out, paste_on_backgrounds, random_convolution
from ..data.dataset import MixedDataset, TensorHandDataset, make_loader
from ..data.readers import read_samples
from ..data.splits import select_poses, select_views, split_samples

__all__ = ["TrainData"]

log = logging.getLogger(__name__)

_STORE_RES = 160  # decoded size kept in memory; crops are re-cut from it at the input resolution
# Batches per sampler epoch. The weighted sampler materialises an epoch's indices as a Python
# list: 10**8 of them took ~5 GB and minutes per run; a short epoch is simply started again.
_EPOCH_BATCHES = 2000
_VAL_BATCHES = 8


class TrainData:
    """`batch(step)` -> dict of tensors (image (B,3,R,R) RGB in [0,1], joints2d, joints3d,
    has2d, has3d, valid2d) and `val_batches()` -> a fixed list of such dicts."""

    def __init__(self, cfg: TrainConfig, rank: int = 0, world_size: int = 1,
                 device: torch.device | str = "cpu"):
        res = cfg.model.input_res
        self.device = torch.device(device)
        self.augment = augment = cfg.augment
        self.bank = background_bank(cfg, res)
        file_sources, val_sets, self.synth_weight = [], [], 0.0
        for source in cfg.sources:
            if source.kind == "synth":
                self.synth_weight += source.weight
                continue
            samples = select_poses(read_samples(source.kind, source.path), source.poses)
            train, val = split_samples(select_views(samples, source.view), cfg.val_fraction)
            log.info("%s %s%s: %d train / %d val samples", source.kind, source.path,
                        f" ({source.view} views)" if source.view else "", len(train), len(val))
            file_sources.append((TensorHandDataset.from_samples(train, size=_STORE_RES, res=res,
                                                                augment=augment), source.weight))
            if val:
                val_sets.append(TensorHandDataset.from_samples(val, size=_STORE_RES, res=res, seed=0))
        total = sum(w for _, w in file_sources) + self.synth_weight
        self.synth_count = round(cfg.batch_size * self.synth_weight / total) if total else 0
        file_count = cfg.batch_size - self.synth_count
        self._loader_iter = None
        if file_sources and file_count > 0:
            mixed = MixedDataset(file_sources)
            gen = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
            self._loader = make_loader(mixed, file_count, workers=cfg.num_workers,
                                       num_samples=file_count * _EPOCH_BATCHES, generator=gen)
            self._loader_iter = iter(self._loader)
        self.renderer = None
        if self.synth_count:
            from ..data.synth import SynthRenderer
            from ..hand import create_hand_model
            self.renderer = SynthRenderer(create_hand_model(cfg.model.hand_model), res=res, device=self.device,
                                          backgrounds=self.bank)
            self._synth_gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 7919 + rank)
        self._compose_gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 104729 + rank)
        self._val = self._build_val(val_sets, cfg)

    def _synth_batch(self, n: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
        batch = self.renderer.sample(n, gen).to_right()
        joints3d = batch.joints3d - batch.joints3d[:, :1]
        ones = torch.ones(n, device=batch.joints2d.device)
        return {"image": batch.images.float() / 255.0, "joints2d": batch.joints2d, "joints3d": joints3d,
                "has2d": ones, "has3d": ones, "valid2d": torch.ones(n, 21, device=ones.device)}

    def _build_val(self, val_sets, cfg: TrainConfig) -> list[dict[str, torch.Tensor]]:
        batches = []
        for dataset in val_sets:
            loader = make_loader(dataset, cfg.batch_size, shuffle=False, drop_last=False)
            for i, batch in enumerate(loader):
                if i == _VAL_BATCHES:
                    break
                batches.append(batch)
        if self.renderer is not None:
            gen = torch.Generator(device=self.device).manual_seed(123456)
            batches += [self._synth_batch(cfg.batch_size, gen) for _ in range(2)]
        return batches

    def batch(self, step: int) -> dict[str, torch.Tensor]:
        parts = []
        if self._loader_iter is not None:
            try:
                loaded = next(self._loader_iter)
            except StopIteration:  # end of a sampler epoch: draw the next
                self._loader_iter = iter(self._loader)
                loaded = next(self._loader_iter)
            real = {k: v.to(self.device) for k, v in loaded.items()}
            real["image"] = self._compose(real)
            parts.append(real)
        if self.synth_count:
            parts.append(self._synth_batch(self.synth_count, self._synth_gen))
        keys = ("image", "joints2d", "joints3d", "has2d", "has3d", "valid2d")
        batch = {k: torch.cat([p[k].float() for p in parts]) for k in keys}
        if self.augment.randconv_prob > 0:
            batch["image"] = random_convolution(batch["image"], self.augment.randconv_prob, self._compose_gen)
        return batch

    def _compose(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Real crops on new backgrounds and behind occluders, per the augment settings."""
        images, gen = batch["image"], self._compose_gen
        if self.augment.background_prob > 0:
            images = paste_on_backgrounds(images, batch["joints2d"], batch["valid2d"],
                                          self.augment.background_prob, gen, self.bank)
        if self.augment.cutout_prob > 0:
            images = cut_out(images, batch["joints2d"], self.augment.cutout_prob, gen, self.bank)
        return images

    def val_batches(self) -> list[dict[str, torch.Tensor]]:
        return self._val


def background_bank(cfg: TrainConfig, res: int) -> BackgroundBank | None:
    """Hand-free patches of cfg.backgrounds' photos, or None when none are named.

    Patches avoid every hand box that the config's teacher sources found in those photos.
    """
    if not cfg.backgrounds:
        return None
    boxes: dict[Path, list[list[float]]] = {}
    for source in cfg.sources:
        index = Path(source.path) / "index.jsonl"
        if source.kind != "teacher" or not index.is_file():
            continue
        for line in index.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            cx, cy, size = record["box"]
            boxes.setdefault(Path(record["source"]).resolve(), []).append(
                [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
    banks = []
    for folder in map(Path, cfg.backgrounds):
        root = folder.resolve()
        avoid = {path.relative_to(root).as_posix(): b for path, b in boxes.items() if root in path.parents}
        banks.append(BackgroundBank.from_folder(folder, res, avoid_boxes=avoid, seed=cfg.seed).patches)
    return BackgroundBank(torch.cat(banks))
