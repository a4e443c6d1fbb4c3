"""DIRNetConfig: everything needed to rebuild a model, stored beside its weights."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .data.augment import NO_AUGMENT, AugmentConfig

__all__ = ["DIRNetConfig", "DataSource", "TrainConfig", "PRESETS", "check_fields"]

# The paper's two model sizes (Sec. 6, Implementation Details).
PRESETS: dict[str, dict[str, int]] = {
    "stb": {"base_channels": 32, "fc_dim": 512},
    "fpha": {"base_channels": 16, "fc_dim": 256},
}


def check_fields(cls, data: object, what: str) -> None:
    """Refuse a non-mapping, unknown keys and wrongly typed values for the flat dataclass `cls`
    (fields with str/int/float/bool defaults), naming the field (a hand-edited or wrong file).

    Raises:
        ValueError: one line naming `what` and the field.
    """
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object, got {type(data).__name__}")
    known = {f.name: f.default for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ValueError(f"unknown {what} field(s) {unknown}; known: {sorted(known)}")
    for name, value in data.items():
        default = known[name]
        expected = (int, float) if type(default) is float else type(default)  # 20 is a fine float
        if isinstance(value, bool) is not isinstance(default, bool) or not isinstance(value, expected):
            raise ValueError(f"{what} field {name!r} must be {type(default).__name__}, got {value!r}")


@dataclass(frozen=True)
class DIRNetConfig:
    preset: str = "fpha"  # "stb" or "fpha"; sets base_channels and fc_dim unless overridden
    base_channels: int = 16  # output channels of the first conv (32 STB, 16 FPHA)
    fc_dim: int = 256  # nodes of each FC layer in the pose/uncertainty heads (512 STB, 256 FPHA)
    input_res: int = 224  # square crop side in px; any multiple of 32 works
    loop_point: int = 3  # Fig. 9: 1..4; 3 means FE maps 224 -> 28 and RF is stages 3-4
    max_loops: int = 4  # refiner passes l = 0..max_loops-1 (the paper's l_max + 1)
    feedback: str = "amg"  # "amg" (attention map generator) or "upsample" (Table 3 w/out AMG)
    gate_hidden: int = 64  # hidden nodes of the exit gate MLP
    head: str = "pool"  # "pool": heads see the globally pooled refiner map (the paper); "spatial":
                        # plus a learned read-out of where on the map features are (SpatialReadout)
    hand_model: str = "open"  # "open" (shipped MakeHuman hand) or "mano"
    num_shape: int = 4  # length of the hand model's shape vector
    scale_prior: float = 0.8  # nominal crop px per mm of hand at input_res 224 (weak perspective s)

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}, known: {sorted(PRESETS)}")
        if self.loop_point not in (1, 2, 3, 4):
            raise ValueError(f"loop_point must be 1..4, got {self.loop_point}")
        if self.max_loops < 1:
            raise ValueError(f"max_loops must be >= 1, got {self.max_loops}")
        if self.input_res % 32:
            raise ValueError(f"input_res must be a multiple of 32, got {self.input_res}")
        if self.feedback not in ("amg", "upsample"):
            raise ValueError(f"feedback must be 'amg' or 'upsample', got {self.feedback!r}")
        if self.head not in ("pool", "spatial"):
            raise ValueError(f"head must be 'pool' or 'spatial', got {self.head!r}")

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> "DIRNetConfig":
        """The paper's preset with any field overridden."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}, known: {sorted(PRESETS)}")
        return cls(preset=preset, **{**PRESETS[preset], **overrides})

    @classmethod
    def from_dict(cls, data: dict) -> "DIRNetConfig":
        """Rebuild from `to_dict()` output, refusing unknown keys (a sign of the wrong file) and
        values of the wrong type."""
        check_fields(cls, data, "DIRNetConfig")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class DataSource:
    """One training source: kind is "teacher" (index.jsonl crops), "synth_dir" (rendered folder),
    "synth" (rendered on the fly), or a public dataset reader ("freihand", "stb", "rhd", "fpha",
    "panoptic"); weight is its share of each batch. poses: "seen" or "unseen" keeps only the
    photos whose handshape is kept for training or held out (dirnet.data.splits), "" keeps all. view:
    "palm" or "back" keeps only the hands that show the camera that side (dirnet.data.splits.hand_view),
    e.g. a second entry of a folder with view "back" over-weights back views, which real photos
    rarely show."""

    kind: str
    path: str = ""
    weight: float = 1.0
    poses: str = ""
    view: str = ""

    def __post_init__(self) -> None:
        if self.poses not in ("", "seen", "unseen"):
            raise ValueError(f"poses must be '', 'seen' or 'unseen', got {self.poses!r}")
        if self.view not in ("", "palm", "back"):
            raise ValueError(f"view must be '', 'palm' or 'back', got {self.view!r}")


@dataclass(frozen=True)
class TrainConfig:
    model: DIRNetConfig = DIRNetConfig()
    protocol: str = "progressive"  # "progressive" (Algorithm 1) or "end_to_end"
    stage_steps: tuple[int, ...] = (3000, 1000, 1000, 1000)  # steps per l_prog (end_to_end: their sum)
    batch_size: int = 64
    lr: float = 1e-3  # paper's initial learning rate
    prog_lr_decay: float = 0.1  # Algorithm 1: x0.1 per stage except AMG
    weight_decay: float = 1e-4
    warmup_steps: int = 200
    sources: tuple[DataSource, ...] = (DataSource("synth"),)
    val_fraction: float = 0.05  # of file-based sources, held out by hash of the file name
    augment: AugmentConfig = AugmentConfig()  # YAML: true (defaults), false (none) or a mapping of fields
    mixstyle: float = 0.0  # chance per batch of MixStyle (0: off)
    mixstyle_depth: int = 2  # layers it follows: the stem, then FE's stages (2: stem and FE stage 1)
    mixstyle_kind: str = "moments"  # what it mixes: "moments" (mean, std) or "exact" (EFDMix, every rank)
    heatmap_weight: float = 0.0  # auxiliary heatmap loss on FE's map (dirnet.training.heatmap); 0: off.
                                 # It shapes FE only where FE learns (not in progressive stages after the first)
    backgrounds: tuple[str, ...] = ()  # photo folders cut into hand-free patches: backgrounds of
                                       # "synth" renders and of real crops (augment.background_prob)
    out_dir: str = "runs/default"
    seed: int = 0
    log_every: int = 50
    ckpt_every: int = 500
    keep_every: int = 0  # also keep the weights every N steps as step<N>.* (0: off), for
                         # scoring late checkpoints or averaging them (tools/average_weights.py)
    lr_schedule: str = "cosine"  # after warm-up: "cosine" down to 5%, or "constant" (for averaging)
    num_workers: int = 0
    device: str = "auto"  # "auto", "cpu", "cuda"
    threads: int = 0  # torch CPU threads; 0 = torch's default. 1 avoids OpenMP spin contention on busy CPUs
    compile: bool = False
    init: str = ""  # checkpoint whose weights start the run (e.g. a shorter run's stage0)

    def __post_init__(self) -> None:
        if self.mixstyle_depth < 1:
            raise ValueError(f"mixstyle_depth must be at least 1 (the stem), got {self.mixstyle_depth}")
        if self.heatmap_weight < 0:
            raise ValueError(f"heatmap_weight must be >= 0, got {self.heatmap_weight}")
        if self.mixstyle_kind not in ("moments", "exact"):
            raise ValueError(f"mixstyle_kind must be 'moments' or 'exact', got {self.mixstyle_kind!r}")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.protocol not in ("progressive", "end_to_end"):
            raise ValueError(f"protocol must be 'progressive' or 'end_to_end', got {self.protocol!r}")
        if len(self.stage_steps) != self.model.max_loops:
            raise ValueError(f"stage_steps needs one entry per loop ({self.model.max_loops}), "
                             f"got {len(self.stage_steps)}")

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        """Build from a parsed YAML/JSON mapping (nested "model" and "sources")."""
        data = dict(data)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}")
        if "model" in data:
            model = dict(data["model"])
            preset = model.pop("preset", "fpha")
            data["model"] = DIRNetConfig.from_preset(preset, **model)
        if "sources" in data:
            data["sources"] = tuple(DataSource(**s) for s in data["sources"])
        if "stage_steps" in data:
            data["stage_steps"] = tuple(data["stage_steps"])
        if "backgrounds" in data:
            data["backgrounds"] = tuple(data["backgrounds"])
        if "augment" in data:
            data["augment"] = _augment(data["augment"])
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


def _augment(value) -> AugmentConfig:
    """AugmentConfig from a config value: a bool (defaults / none) or a mapping of its fields."""
    if isinstance(value, AugmentConfig):
        return value
    if isinstance(value, bool):
        return AugmentConfig() if value else NO_AUGMENT
    if not isinstance(value, dict):
        raise ValueError(f"augment must be true, false or a mapping, got {value!r}")
    known = {f.name for f in fields(AugmentConfig)}
    unknown = set(value) - known
    if unknown:
        raise ValueError(f"unknown augment fields {sorted(unknown)}")
    return AugmentConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in value.items()})
