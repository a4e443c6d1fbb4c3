"""Exact per-stage FLOP and parameter accounting, and the paper's Table 3 (`python -m dirnet.flops`).

FLOPs count every multiply-add of the convolutions and fully connected layers as 2 FLOPs. Bias
adds, BatchNorm (folded into the convolutions at inference), activations, pooling, pixel-shuffle,
the attention product and the hand model's skinning are not counted: together they are under 1%
of the convolution cost.
"""
from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn

from .config import DIRNetConfig

__all__ = ["StageFlops", "count_stage_flops", "table3", "main"]


@dataclass(frozen=True)
class StageFlops:
    """FLOPs of one call of each stage for one image."""

    fe: int  # feature extractor, once per image
    rf: int  # refiner, every loop
    head: int  # pose + uncertainty heads, every loop
    gate: int  # exit gate, every loop when exiting by gate
    feedback: int  # attention map generator, every loop after the first

    def total(self, loops: int, gate: bool = False) -> int:
        """FLOPs of a forward pass that ran `loops` refiner passes."""
        per_loop = self.rf + self.head + (self.gate if gate else 0)
        return self.fe + loops * per_loop + (loops - 1) * self.feedback

    def gflops(self, loops: int, gate: bool = False) -> float:
        return self.total(loops, gate) / 1e9


def _layer_flops(module: nn.Module, out: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return 2 * out.numel() * (module.in_channels // module.groups) * kh * kw
    return 2 * out.numel() * module.in_features  # nn.Linear


@contextmanager
def _counting(model: nn.Module):
    counter = [0]

    def hook(module, _inputs, out):
        counter[0] += _layer_flops(module, out)

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    try:
        yield counter
    finally:
        for h in handles:
            h.remove()


@torch.no_grad()
def count_stage_flops(model) -> StageFlops:
    """Measure each stage of a DIRNet on one dummy image at its input resolution."""
    res = model.cfg.input_res
    was_training = model.training
    model.eval()
    image = torch.zeros(1, 3, res, res)
    counts = {}
    with _counting(model) as c:
        features = model.forward_features(image)
        counts["fe"], c[0] = c[0], 0
        refined = model.forward_refine(features, 0)
        counts["rf"], c[0] = c[0], 0
        h = model.summarize(refined)
        model.pose_head(h)
        _, _, f = model.var_head(h)
        counts["head"], c[0] = c[0], 0
        model.gate(f)
        counts["gate"], c[0] = c[0], 0
        model.attention(refined)
        counts["feedback"] = c[0]
    model.train(was_training)
    return StageFlops(**counts)


def _params(modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def _loop_norm_params(model, loops: int) -> int:
    """Parameters of the refiner with `loops` BatchNorm sets (the stored model may hold more)."""
    total = 0
    for name, p in model.rf_stages.named_parameters():
        total += p.numel() // model.cfg.max_loops * loops if ".norms." in name else p.numel()
    return total


def table3(preset: str, loops: int | None = None) -> dict:
    """Params and GFLOPs of the paper's Table 3 rows for one preset at the paper's setting.

    The paper's setting is 224 px input, loop point 3, and l = 0..3 (4 refiner passes): the value
    that reproduces its "iteration without AMG" cost from its "no iteration" cost.
    """
    from .hand import create_hand_model
    from .models.dirnet import DIRNet

    hand = create_hand_model("open")
    loops = loops or 4
    cfg = DIRNetConfig.from_preset(preset, input_res=224, loop_point=3, max_loops=loops,
                                   num_shape=hand.num_shape)
    model = DIRNet(cfg, hand)
    stage = count_stage_flops(model)
    shared = _params([m for m in (model.stem, model.fe_stages, model.readout, model.pose_head,
                                  model.var_head) if m is not None])
    no_iter_params = shared + _loop_norm_params(model, 1)
    iter_params = shared + _loop_norm_params(model, loops)
    return {
        "params": {"no_iter": no_iter_params, "iter_no_amg": iter_params,
                   "iter_amg": iter_params + _params([model.feedback, model.gate])},
        "gflops": {
            "no_iter": round(stage.gflops(1), 4),
            "iter_no_amg": round((stage.fe + loops * (stage.rf + stage.head)) / 1e9, 4),
            "iter_amg": round(stage.gflops(loops), 4),
        },
        "stage_mflops": {k: round(v / 1e6, 3) for k, v in asdict(stage).items()},
        "loops": loops,
    }


# The paper's Table 3 (GFLOPs, params) for comparison in the printed report.
PAPER = {
    "stb": {"params": {"no_iter": 1.44e6, "iter_no_amg": 1.44e6, "iter_amg": 1.68e6},
            "gflops": {"no_iter": 0.46, "iter_no_amg": 1.06, "iter_amg": 1.51}},
    "fpha": {"params": {"no_iter": 408e3, "iter_no_amg": 408e3, "iter_amg": 460e3},
             "gflops": {"no_iter": 0.14, "iter_no_amg": 0.30, "iter_amg": 0.45}},
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dirnet.flops",
                                     description="DIR-Net params and GFLOPs vs the paper's Table 3.")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    report = {preset: table3(preset) for preset in ("stb", "fpha")}
    if args.json:
        print(json.dumps({p: {"params": r["params"]["iter_amg"], "gflops": r["gflops"]}
                          for p, r in report.items()}))
        return 0
    print("DIR-Net Table 3 at 224 px, loop point 3, 4 refiner passes; 1 multiply-add = 2 FLOPs")
    print(f"{'preset':6} {'row':12} {'params':>10} {'paper':>10} {'GFLOPs':>8} {'paper':>7} {'diff':>6}")
    for preset, r in report.items():
        for row in ("no_iter", "iter_no_amg", "iter_amg"):
            ours, paper = r["gflops"][row], PAPER[preset]["gflops"][row]
            print(f"{preset:6} {row:12} {r['params'][row]:>10,} {PAPER[preset]['params'][row]:>10,.0f} "
                  f"{ours:>8.3f} {paper:>7.2f} {100 * (ours / paper - 1):>+5.0f}%")
        print(f"{'':6} per stage, MFLOPs: {r['stage_mflops']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
