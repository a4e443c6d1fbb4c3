"""DIRNetConfig: everything needed to rebuild a model, stored beside its weights."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

__all__ = ["DIRNetConfig", "PRESETS"]

# The paper's two model sizes (Sec. 6, Implementation Details).
PRESETS: dict[str, dict[str, int]] = {
    "stb": {"base_channels": 32, "fc_dim": 512},
    "fpha": {"base_channels": 16, "fc_dim": 256},
}


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

    @classmethod
    def from_preset(cls, preset: str, **overrides) -> "DIRNetConfig":
        """The paper's preset with any field overridden."""
        if preset not in PRESETS:
            raise ValueError(f"unknown preset {preset!r}, known: {sorted(PRESETS)}")
        return cls(preset=preset, **{**PRESETS[preset], **overrides})

    @classmethod
    def from_dict(cls, data: dict) -> "DIRNetConfig":
        """Rebuild from `to_dict()` output, refusing unknown keys (a sign of the wrong file)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown DIRNetConfig fields {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)
