"""Checkpoints as `<stem>.safetensors` (tensors) + `<stem>.json` (config and metadata); no pickle."""
from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .config import DIRNetConfig
from .hand import create_hand_model
from .hand.base import HandModel
from .io import atomic_write, write_text_atomic
from .models.dirnet import DIRNet

__all__ = ["save_checkpoint", "load_checkpoint", "read_metadata", "checkpoint_paths"]

FORMAT = "dirnet-checkpoint-v1"


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(tensors, metadata) paths for a stem, a .safetensors path, a .json path, or a folder that
    holds one checkpoint (what `python -m dirnet.finetune` writes).

    Raises:
        FileNotFoundError: a folder without exactly one checkpoint.
    """
    p = Path(path)
    if p.is_dir():
        stems = sorted(f.with_suffix("") for f in p.glob("*.safetensors"))
        if len(stems) != 1:
            raise FileNotFoundError(f"{p} holds {len(stems)} checkpoints (*.safetensors), expected one")
        p = stems[0]
    stem = p.with_suffix("") if p.suffix in (".safetensors", ".json") else p
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def save_checkpoint(model: DIRNet, path: str | os.PathLike, metadata: dict | None = None) -> Path:
    """Write the network weights and `{"format", "config", "hand_model", **metadata}` atomically."""
    tensors_path, meta_path = checkpoint_paths(path)
    tensors_path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict_without_hand().items()}
    meta = {"format": FORMAT, "config": model.cfg.to_dict(), "hand_model": model.hand.name,
            **(metadata or {})}
    atomic_write(tensors_path, lambda p: save_file(state, str(p)))
    write_text_atomic(meta_path, json.dumps(meta, indent=2) + "\n")
    return tensors_path


def read_metadata(path: str | os.PathLike) -> dict:
    """The JSON half of a checkpoint, validated. Raises FileNotFoundError or ValueError."""
    _, meta_path = checkpoint_paths(path)
    if not meta_path.is_file():
        raise FileNotFoundError(f"weights config {meta_path} not found")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"weights config {meta_path} is not valid JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path} is not a DIR-Net checkpoint config (format {FORMAT!r} expected)")
    for key, kind in (("config", dict), ("hand_model", str)):
        if not isinstance(meta.get(key), kind):
            raise ValueError(f"{meta_path}: {key!r} must be a JSON {'object' if kind is dict else 'string'}, "
                             f"got {meta.get(key, 'nothing')!r}")
    try:
        DIRNetConfig.from_dict(meta["config"])
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{meta_path}: {exc}") from None
    return meta


def load_checkpoint(path: str | os.PathLike, hand: HandModel | None = None,
                    map_location: str = "cpu") -> tuple[DIRNet, dict]:
    """Rebuild the model a checkpoint describes and load its weights.

    Args:
        path: checkpoint stem, or its .safetensors / .json file.
        hand: hand model to use; default builds the one the checkpoint names. A hand model of
            another kind than the checkpoint's is refused.
    Returns:
        (model in eval mode, metadata dict).
    Raises:
        FileNotFoundError: a file is missing.
        ValueError: wrong, truncated or mismatching files.
    """
    tensors_path, meta_path = checkpoint_paths(path)
    meta = read_metadata(path)
    cfg = DIRNetConfig.from_dict(meta["config"])
    if hand is None:
        hand = create_hand_model(meta["hand_model"])
    elif hand.name != meta["hand_model"]:
        raise ValueError(f"{tensors_path.name} was trained with the {meta['hand_model']!r} hand model, "
                         f"not {hand.name!r}")
    if not tensors_path.is_file():
        raise FileNotFoundError(f"weights file {tensors_path} not found")
    try:
        state = load_file(str(tensors_path), device=map_location)
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"cannot read weights {tensors_path}: {exc} (truncated or not safetensors?)") from None
    model = DIRNet(cfg, hand)
    expected = model.state_dict_without_hand()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{tensors_path.name} does not match its config: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise ValueError(f"{tensors_path.name}: {key} has shape {tuple(value.shape)}, "
                             f"config expects {tuple(expected[key].shape)}")
    model.load_state_dict(state, strict=False)
    return model.to(map_location).eval(), meta
