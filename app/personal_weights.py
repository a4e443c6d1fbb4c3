"""The weights a user can pick: the shipped model and their own fine-tunes (Qt-free).

Each fine-tune of a recording (`python -m dirnet.finetune`, or the window's "Fine-tune on this
session") is a folder under PERSONAL_WEIGHTS named after the session, holding one checkpoint whose
JSON says what it was fine-tuned on and how it scored before and after.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PERSONAL_WEIGHTS", "WeightsChoice", "list_weights", "new_output_dir", "describe", "same_weights"]

PERSONAL_WEIGHTS = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "dirnet" / "weights"


@dataclass(frozen=True)
class WeightsChoice:
    """One entry of the weights picker. path None: the shipped weights."""

    label: str
    path: Path | None


def _checkpoint_json(folder: Path) -> Path | None:
    found = sorted(folder.glob("*.json"))
    return found[0] if len(found) == 1 and found[0].with_suffix(".safetensors").is_file() else None


def _tensors(path: Path) -> Path:
    """The .safetensors file a weights path names (a folder, a stem, or either file)."""
    if path.is_dir():
        found = sorted(path.glob("*.safetensors"))
        return found[0].resolve() if len(found) == 1 else path.resolve()
    return (path.with_suffix("") if path.suffix in (".json", ".safetensors") else path).with_suffix(
        ".safetensors").resolve()


def same_weights(a: Path | None, b: Path | None) -> bool:
    """Whether two weights paths (None: the shipped ones) name the same checkpoint."""
    return a is b or (a is not None and b is not None and _tensors(a) == _tensors(b))


def describe(path: Path | None) -> str:
    """One line about a weights folder or file: what it was fine-tuned on and its held-out numbers."""
    if path is None:
        return "the shipped weights"
    meta_path = _checkpoint_json(path) if path.is_dir() else path.with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path else {}
    except (OSError, ValueError):
        return f"{path} (unreadable)"
    tune = meta.get("finetune") if isinstance(meta, dict) else None
    if not isinstance(tune, dict):
        return str(path)
    inputs = ", ".join(Path(p).parent.name if Path(p).name == "raw.mp4" else Path(p).name
                       for p in tune.get("inputs", []))
    held = tune.get("validation", {})
    before = held.get("before", {}).get("held-out slice", {}).get("err2d")
    after = held.get("after", {}).get("held-out slice", {}).get("err2d")
    numbers = f"; held-out frames {before:.1f} -> {after:.1f} px" if before and after else ""
    return f"fine-tuned on {inputs}: {tune.get('steps', '?')} steps{numbers}"


def list_weights(root: Path = PERSONAL_WEIGHTS, current: Path | None = None) -> list[WeightsChoice]:
    """The shipped weights, then every fine-tune folder under `root` (newest first), then `current`
    when it is somewhere else."""
    choices = [WeightsChoice("Shipped weights", None)]
    folders = [f for f in root.iterdir()  # hidden: a fine-tune still being written
               if f.is_dir() and not f.name.startswith(".") and _checkpoint_json(f)] if root.is_dir() else []
    for folder in sorted(folders, key=lambda f: f.stat().st_mtime, reverse=True):
        choices.append(WeightsChoice(f"Mine: {folder.name}", folder))
    if current is not None and not any(same_weights(c.path, current) for c in choices):
        choices.append(WeightsChoice(f"File: {current.name}", current))
    return choices


def new_output_dir(root: Path, session: Path) -> Path:
    """A folder under `root` for a fine-tune of `session` that does not exist yet."""
    candidate, n = root / session.name, 2
    while candidate.exists():
        candidate, n = root / f"{session.name}-{n}", n + 1
    return candidate
