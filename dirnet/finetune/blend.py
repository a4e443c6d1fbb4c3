"""Weight-space blending of the starting and the fine-tuned weights (WiSE-FT, Wortsman et al., CVPR 2022).

A fine-tune on one person's frames moves the features towards that person; the point on the straight
line between the starting weights (alpha 0) and the fine-tuned ones (alpha 1) keeps most of the gain
on the person while forgetting much less elsewhere (docs/FINETUNE.md, measured). BatchNorm
statistics are frozen during the fine-tune, so both ends share them and the blend is well defined.
The same weight space averages a training run's kept checkpoints (`tools/average_weights.py`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

__all__ = ["BLEND_GRID", "blend_state", "choose_blend", "mean_state"]

# The alphas tried on the held-out slice. Below 0.5 most of the gain is gone (docs/FINETUNE.md),
# and every alpha costs a scoring pass of the slice.
BLEND_GRID = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def blend_state(start: Mapping[str, torch.Tensor], tuned: Mapping[str, torch.Tensor], alpha: float
                ) -> dict[str, torch.Tensor]:
    """start + alpha * (tuned - start) for every floating tensor; other tensors (counters) from `tuned`."""
    if start.keys() != tuned.keys():
        raise ValueError("the two state dicts hold different tensors")
    return {k: torch.lerp(start[k], tuned[k], alpha) if tuned[k].is_floating_point() else tuned[k].clone()
            for k in tuned}


def mean_state(states: Sequence[Mapping[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Equal-weight mean of every floating tensor (BatchNorm statistics included); other tensors
    (counters) from the last state. Stochastic weight averaging of one run's checkpoints."""
    if not states or any(s.keys() != states[-1].keys() for s in states):
        raise ValueError("need state dicts that hold the same tensors")
    last = states[-1]
    return {k: torch.stack([s[k] for s in states]).mean(0) if last[k].is_floating_point() else last[k].clone()
            for k in last}


def choose_blend(errors: Mapping[float, float], keep_gain: float) -> float:
    """The smallest alpha whose held-out error keeps `keep_gain` of the best alpha's gain over
    alpha 0 (the starting weights); 0 when no alpha does better than the start.

    Args:
        errors: held-out error per alpha; must include 0.
        keep_gain: share of the best gain to keep, in (0, 1].
    """
    if 0.0 not in errors or not 0.0 < keep_gain <= 1.0:
        raise ValueError(f"need alpha 0 and 0 < keep_gain <= 1, got {sorted(errors)} and {keep_gain}")
    start, best = errors[0.0], min(errors.values())
    if best >= start:
        return 0.0
    target = start - keep_gain * (start - best)
    return min(alpha for alpha, err in errors.items() if err <= target)
