"""Gesture prototyping: pose features, a JSON gesture store, and a nearest-prototype matcher.

Features depend only on the hand's shape, not on where it is, how big it looks or how it is
turned: bend angles between consecutive bones, spread angles between neighbouring fingers, and
fingertip distances divided by the palm's size. Mirroring does not change them either, so one
prototype serves both hands.

Store format (JSON, written atomically):
`{"version": 1, "gestures": [{"name": str, "samples": [[[x, y, z] x 21] x N]}]}`, samples in mm,
MediaPipe joint order. Features are recomputed on load, so the store outlives feature changes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

import numpy as np

from dirnet import FINGERS, HandJoint, write_text_atomic

__all__ = [
    "pose_features", "Gesture", "GestureMatch", "GestureStore", "GestureMatcher", "GestureCapture",
    "read_gestures", "STARTER_GESTURES", "FEATURE_SCALE", "open_store",
]

STARTER_GESTURES = Path(files("app") / "starter_gestures.json")  # package data

# RMS feature distance (radians / palm sizes) at which confidence falls to exp(-1/2) ~ 0.61.
FEATURE_SCALE = 0.18

_CHAINS = np.array([(HandJoint.WRIST, *chain) for chain in FINGERS.values()])  # (5, 5)
_TIPS = _CHAINS[:, -1]
# Neighbouring proximal bones whose angle measures finger spread (thumb-index ... ring-pinky).
_SPREAD_PAIRS = ((0, 1), (1, 2), (2, 3), (3, 4))


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle (radians) between vectors along the last axis."""
    cos = np.einsum("...i,...i->...", a, b) / (
        np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-9)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def pose_features(joints3d: np.ndarray) -> np.ndarray:
    """Position-, scale-, rotation- and mirror-invariant description of a hand pose.

    Args:
        joints3d: (21, 3) or (N, 21, 3) joints, any unit, MediaPipe order.

    Returns:
        (28,) or (N, 28) float32: 15 bend angles (3 per finger, radians), 4 spread angles between
        neighbouring fingers' proximal bones (radians), 4 thumb-tip-to-fingertip and 5
        fingertip-to-wrist distances in palm sizes (palm size = mean wrist-to-MCP distance of the
        index, middle and pinky fingers).

    Raises:
        ValueError: if the shape is not (..., 21, 3).
    """
    j = np.asarray(joints3d, dtype=np.float64)
    if j.shape[-2:] != (21, 3):
        raise ValueError(f"joints3d must be (..., 21, 3), got shape {j.shape}")
    chains = j[..., _CHAINS, :]  # (..., 5, 5, 3)
    bones = np.diff(chains, axis=-2)  # (..., 5, 4, 3): wrist->base, then three finger bones
    bend = _angle(bones[..., :-1, :], bones[..., 1:, :]).reshape(*j.shape[:-2], 15)
    proximal = bones[..., 1, :]  # (..., 5, 3) first bone of each finger
    spread = np.stack([_angle(proximal[..., a, :], proximal[..., b, :]) for a, b in _SPREAD_PAIRS], -1)
    wrist = j[..., HandJoint.WRIST, :][..., None, :]
    mcps = j[..., [HandJoint.INDEX_MCP, HandJoint.MIDDLE_MCP, HandJoint.PINKY_MCP], :]
    palm = np.linalg.norm(mcps - wrist, axis=-1).mean(-1)[..., None] + 1e-9
    tips = j[..., _TIPS, :]
    thumb_to_tips = np.linalg.norm(tips[..., 1:, :] - tips[..., :1, :], axis=-1) / palm
    tips_to_wrist = np.linalg.norm(tips - wrist, axis=-1) / palm
    return np.concatenate([bend, spread, thumb_to_tips, tips_to_wrist], -1).astype(np.float32)


@dataclass
class Gesture:
    """A named prototype: the captured poses and their mean feature vector.

    samples: (N, 21, 3) float32 mm, MediaPipe order.
    features: (28,) float32 mean of the samples' features.
    """

    name: str
    samples: np.ndarray
    features: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.samples = np.asarray(self.samples, dtype=np.float32).reshape(-1, 21, 3)
        self.features = pose_features(self.samples).mean(0)


@dataclass(frozen=True)
class GestureMatch:
    """The best-matching gesture for one pose and how confident the match is (0..1)."""

    name: str
    confidence: float


class GestureStore:
    """Named gestures kept in a JSON file; starts from the shipped starters when the file is absent.

    Args:
        path: the user's store; written by `save()` (never the shipped starters file).
        starters: read instead when `path` does not exist yet.

    Raises:
        ValueError: if the file exists but is not a gesture store.
    """

    def __init__(self, path: Path, starters: Path = STARTER_GESTURES) -> None:
        self.path = Path(path)
        self.starters = Path(starters)
        source = self.path if self.path.exists() else self.starters
        self.gestures: dict[str, Gesture] = read_gestures(source) if source.exists() else {}

    @property
    def saved(self) -> bool:
        """The user's own file exists (until then the store shows the starters)."""
        return self.path.exists()

    def names(self) -> list[str]:
        """Gesture names in insertion order."""
        return list(self.gestures)

    def add(self, name: str, samples: np.ndarray) -> Gesture:
        """Add or replace a gesture from (N, 21, 3) mm samples (N >= 1).

        Raises:
            ValueError: empty name or no samples.
        """
        name = name.strip()
        if not name:
            raise ValueError("gesture name is empty")
        if len(samples) == 0:
            raise ValueError(f"gesture {name!r} has no samples")
        self.gestures[name] = Gesture(name, samples)
        return self.gestures[name]

    def rename(self, old: str, new: str) -> None:
        """Rename keeping the order.

        Raises:
            ValueError: unknown `old`, empty `new`, or `new` already taken.
        """
        new = new.strip()
        if old not in self.gestures:
            raise ValueError(f"unknown gesture {old!r}")
        if not new or (new != old and new in self.gestures):
            raise ValueError(f"cannot rename {old!r} to {new!r}: empty or taken")
        self.gestures = {(new if k == old else k): g for k, g in self.gestures.items()}
        self.gestures[new].name = new

    def delete(self, name: str) -> tuple[int, Gesture] | None:
        """Remove a gesture; returns (its position, it) for `restore`, None if it was absent."""
        if name not in self.gestures:
            return None
        position = list(self.gestures).index(name)
        return position, self.gestures.pop(name)

    def restore(self, position: int, gesture: Gesture) -> None:
        """Put a deleted gesture back at its position (undo); it replaces one of the same name."""
        items = [(k, g) for k, g in self.gestures.items() if k != gesture.name]
        items.insert(min(position, len(items)), (gesture.name, gesture))
        self.gestures = dict(items)

    def reset(self) -> None:
        """Replace every gesture with the shipped starters."""
        self.gestures = read_gestures(self.starters)

    def merge(self, gestures: dict[str, Gesture], replace: bool) -> list[str]:
        """Add `gestures`; names already present are replaced only if `replace`. Returns names added."""
        added = [name for name in gestures if replace or name not in self.gestures]
        for name in added:
            self.gestures[name] = gestures[name]
        return added

    def save(self, path: Path | None = None) -> None:
        """Write the store to `path` (default: its own file) atomically (temporary file, then rename)."""
        data = {"version": 1, "gestures": [
            {"name": g.name, "samples": np.round(g.samples.astype(np.float64), 2).tolist()}
            for g in self.gestures.values()]}
        target = Path(path) if path is not None else self.path
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(target, json.dumps(data))


def read_gestures(source: Path) -> dict[str, Gesture]:
    """The gestures of a store file, by name, in file order.

    Raises:
        OSError: unreadable file.
        ValueError: not a gesture store (message names the file).
    """
    gestures: dict[str, Gesture] = {}
    try:
        data = json.loads(Path(source).read_text())
        for item in data["gestures"]:
            gestures[str(item["name"])] = Gesture(str(item["name"]), np.array(item["samples"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{source} is not a gesture store: {exc}") from exc
    return gestures


def open_store(path: Path, starters: Path = STARTER_GESTURES) -> tuple[GestureStore, str | None]:
    """The user's gesture store, never failing: a broken file is left for the user to rescue.

    Tries `path`, then `<path>.recovered.json` and `<path>.recovered-N.json` (where edits went
    when the files before them were broken); a missing file starts from the starters. When all
    are broken (the starters too), starts with no gestures under the next free recovered name.

    Returns:
        (store, message): message is one line saying what was broken and what is used instead,
        None when `path` (or the starters) loaded.
    """
    path = Path(path)
    recovered = [path.with_suffix(".recovered.json")]
    while recovered[-1].exists():
        recovered.append(path.with_suffix(f".recovered-{len(recovered) + 1}.json"))
    problems: list[str] = []
    for candidate in (path, *recovered):
        try:
            store = GestureStore(candidate, starters)
        except ValueError as exc:
            if str(exc) not in problems:
                problems.append(str(exc))
            continue
        return store, (f"{'; '.join(problems)}; using {store.path}" if problems else None)
    store = GestureStore(recovered[-1], starters=recovered[-1])  # neither exists: an empty store
    return store, f"{'; '.join(problems)}; starting with no gestures in {store.path}"


class GestureMatcher:
    """Nearest-prototype recognition: confidence = exp(-d^2 / (2 FEATURE_SCALE^2)), d = RMS distance."""

    def __init__(self, gestures: dict[str, Gesture] | None = None) -> None:
        self.set_gestures(gestures or {})

    def set_gestures(self, gestures: dict[str, Gesture]) -> None:
        """Replace the prototypes (e.g. after the store changed)."""
        self._names = list(gestures)
        self._protos = (np.stack([g.features for g in gestures.values()]) if gestures
                        else np.zeros((0, 28), np.float32))

    def scores(self, features: np.ndarray) -> dict[str, float]:
        """Confidence for every prototype, given (28,) features."""
        d2 = ((self._protos - features[None]) ** 2).mean(1)
        conf = np.exp(-d2 / (2 * FEATURE_SCALE ** 2))
        return dict(zip(self._names, conf.tolist()))

    def match(self, features: np.ndarray, threshold: float) -> GestureMatch | None:
        """The best prototype if its confidence reaches `threshold`, else None."""
        scores = self.scores(features)
        if not scores:
            return None
        name = max(scores, key=scores.get)
        return GestureMatch(name, scores[name]) if scores[name] >= threshold else None


class GestureCapture:
    """Collects the next `frames` poses of one hand to become a new gesture's samples."""

    def __init__(self, name: str, frames: int = 10) -> None:
        self.name = name
        self.frames = frames
        self._samples: list[np.ndarray] = []

    def add(self, joints3d: np.ndarray) -> bool:
        """Take one (21, 3) mm pose; True once enough frames are collected."""
        if len(self._samples) < self.frames:
            self._samples.append(np.asarray(joints3d, np.float32).copy())
        return self.done

    @property
    def done(self) -> bool:
        return len(self._samples) >= self.frames

    @property
    def samples(self) -> np.ndarray:
        """(N, 21, 3) float32 mm collected so far."""
        return np.stack(self._samples) if self._samples else np.zeros((0, 21, 3), np.float32)
