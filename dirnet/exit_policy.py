"""ExitPolicy: when the refiner stops (Sec. 4), as parameters only.

Kept apart from exits (which runs the rule, on torch) so that a command line can list and check
the exit modes without importing torch.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["EXIT_MODES", "ExitPolicy"]

EXIT_MODES = ("none", "variance", "gate")


@dataclass(frozen=True)
class ExitPolicy:
    """When to stop refining.

    exit_mode: "none" runs max_loops; "variance" exits once the mean predicted variance (2D in px^2 of a
        224 px crop and 3D in mm^2, all 105 coordinates) is below tau_var; "gate" asks the gate G.
    tau_gate: softmax temperature of the gate; higher exits earlier (Sec. 4.2).
    sample: sample the gate's action as in the paper; otherwise exit deterministically at the first
        loop where the sampled policy would have exited with probability >= 1/2 (its median exit
        loop), which is stable frame to frame and still exits earlier as tau_gate rises.
    """

    exit_mode: str = "gate"
    tau_var: float = 20.0
    tau_gate: float = 1.0
    max_loops: int = 4
    sample: bool = False

    def __post_init__(self) -> None:
        if self.exit_mode not in EXIT_MODES:
            raise ValueError(f"exit mode must be one of {EXIT_MODES}, got {self.exit_mode!r}")
        if self.tau_gate <= 0:
            raise ValueError(f"tau_gate must be > 0, got {self.tau_gate}")
        if self.tau_var < 0:
            raise ValueError(f"tau_var must be >= 0, got {self.tau_var}")
        if self.max_loops < 1:
            raise ValueError(f"max_loops must be >= 1, got {self.max_loops}")
