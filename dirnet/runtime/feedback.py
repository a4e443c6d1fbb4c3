"""What the attention feedback costs per loop, and what was tried to cut it (`profile feedback`).

After every loop that does not exit, the fast path runs AMG (refined -> attention map) and, in the
next loop, RF on features x attention. Variants measured here on a trained model's folded stages,
batch 1, one thread, every variant interleaved:

- `amg` / `amg int8`: the AMG graph as the fast path runs it, in fp32 and int8;
- `amg transposed`: each 1x1 conv + PixelShuffle(2) rewritten as ConvTranspose2d(k=2, s=2) plus a
  periodic bias, which is exact (`TransposedAMG`);
- `amg half-res`: the two 3x3 convs at half resolution and the map upsampled, an approximation
  of the trained AMG (`HalfResAMG`); a real half-resolution AMG would need training, so its
  accuracy cost is scored on labelled crops rather than assumed;
- `amg+rf` / `amg+rf int8`: AMG fused into the next loop's refiner graph (one session call),
  against `amg then rf` as two calls.

Nothing the two stages compute repeats between loops: their every input changes each loop, and
FE's features are already computed once per crop.
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch
from torch import nn

from ..models.blocks import AttentionMapGenerator
from .onnx import StageGraph, _export, create_session
from .timing import interleaved_medians
from .quantize import graph_ranges, quantize_graph
from .stages import InferenceStages

__all__ = ["TransposedAMG", "HalfResAMG", "feedback_table"]


class TransposedAMG(nn.Module):
    """An AttentionMapGenerator with each 1x1 conv + PixelShuffle(2) as one ConvTranspose2d.

    PixelShuffle puts channel c*4 + 2a + b of the 1x1 conv at output channel c, position
    (2i + a, 2j + b), so the pair is a stride-2 2x2 transposed convolution. Its bias varies with
    (a, b), hence a periodic bias map added after it.

    Args:
        amg: the trained generator (weights copied).
        side: side of the refined map it decodes (input_res / 32).
    """

    def __init__(self, amg: AttentionMapGenerator, side: int):
        super().__init__()
        layers = list(amg.decoder)
        self.ups = nn.ModuleList()
        first_tail = 0
        while isinstance(layers[first_tail], nn.Conv2d) and layers[first_tail].kernel_size == (1, 1):
            conv = layers[first_tail]
            out_ch = conv.out_channels // 4
            up = nn.ConvTranspose2d(conv.in_channels, out_ch, 2, 2, bias=False)
            with torch.no_grad():
                weight = conv.weight[:, :, 0, 0].view(out_ch, 2, 2, conv.in_channels)
                up.weight.copy_(weight.permute(3, 0, 1, 2))
            bias = conv.bias.detach().view(out_ch, 2, 2).repeat(1, side, side)[None]
            self.register_buffer(f"bias{len(self.ups)}", bias)
            self.ups.append(up)
            side *= 2
            first_tail += 3  # conv, PixelShuffle, ReLU
        self.tail = nn.Sequential(*layers[first_tail:])

    def forward(self, refined: torch.Tensor) -> torch.Tensor:
        x = refined
        for i, up in enumerate(self.ups):
            x = torch.relu(up(x) + getattr(self, f"bias{i}"))
        return self.tail(x)


class HalfResAMG(nn.Module):
    """The trained AMG with its two 3x3 convs run at half resolution (4x fewer of their FLOPs):
    the last upsampled map is average-pooled, convolved, and the sigmoid map upsampled (nearest).
    Not exact: for measuring what a lower-resolution attention path would cost and gain."""

    def __init__(self, amg: AttentionMapGenerator):
        super().__init__()
        layers = list(amg.decoder)
        self.up, self.tail = nn.Sequential(*layers[:-4]), nn.Sequential(*layers[-4:])
        self.out_channels = amg.out_channels

    def forward(self, refined: torch.Tensor) -> torch.Tensor:
        x = nn.functional.avg_pool2d(self.up(refined), 2)
        return nn.functional.interpolate(self.tail(x), scale_factor=2.0, mode="nearest")


class _FusedStep(nn.Module):
    """AMG on the previous loop's refined map, then this loop's refiner: one graph."""

    def __init__(self, stages: InferenceStages, loop: int):
        super().__init__()
        self.attention, self.refine = stages.attention, stages.refiners[loop]

    def forward(self, features: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        return self.refine(features, self.attention(previous))


def _graph(name: str, module: nn.Module, args: tuple[torch.Tensor, ...], inputs: tuple[str, ...],
           output: str) -> StageGraph:
    return StageGraph(name, inputs, (output,), _export(module.eval(), args, inputs, (output,)))


@torch.no_grad()
def feedback_table(model, images: torch.Tensor, reps: int = 200, accuracy: str | None = None,
                   limit: int = 200) -> dict:
    """CPU and wall-clock medians (ms, batch 1) of every variant, their exactness, and the
    half-resolution approximation's accuracy against the trained AMG.

    Args:
        model: a trained DIRNet.
        images: (N, 3, R, R) float32 real crops in [0, 1]: calibration for int8, the first one timed.
        reps: timed calls per variant.
        accuracy: labelled data spec scored with the half-resolution AMG (None: not scored).
        limit: hands scored.
    """
    stages = InferenceStages(model)
    side = model.cfg.input_res // 32
    features = stages.features(images)
    previous = stages.refiners[0](features)
    attention = stages.attention(previous)
    half = HalfResAMG(stages.attention).eval()
    graphs = {
        "amg": _graph("amg", stages.attention, (previous,), ("refined",), "attention"),
        "amg transposed": _graph("amg_t", TransposedAMG(stages.attention, side), (previous,),
                                 ("refined",), "attention"),
        "amg half-res": _graph("amg_h", half, (previous,), ("refined",), "attention"),
        "rf": _graph("rf", stages.refiners[1], (features, attention), ("features", "attention"), "refined"),
        "amg+rf": _graph("step", _FusedStep(stages, 1), (features, previous), ("features", "previous"),
                         "refined"),
    }
    arrays = {"refined": previous.numpy(), "features": features.numpy(), "attention": attention.numpy(),
              "previous": previous.numpy()}
    feeds = {name: [{k: arrays[k] for k in g.inputs}] for name, g in graphs.items()}
    for name in ("amg", "rf", "amg+rf"):
        graphs[f"{name} int8"] = quantize_graph(graphs[name], graph_ranges(graphs[name], feeds[name]))
        feeds[f"{name} int8"] = feeds[name]
    sessions = {name: create_session(g.model) for name, g in graphs.items()}
    one = {name: {k: v[:1] for k, v in feeds[name][0].items()} for name in graphs}
    calls = {name: (lambda s=sessions[name], f=one[name]: s.run(None, f)) for name in graphs}
    for suffix in ("", " int8"):
        calls[f"amg then rf{suffix}"] = (lambda a=calls[f"amg{suffix}"], r=calls[f"rf{suffix}"]: (a(), r()))
    names = list(calls)
    cpu = interleaved_medians([calls[n] for n in names], reps, clock=time.thread_time)
    wall = interleaved_medians([calls[n] for n in names], reps)
    run = {name: sessions[name].run(None, feeds[name][0])[0] for name in graphs}
    exact = {"amg transposed": float(np.abs(run["amg transposed"] - run["amg"]).max()),
             "amg half-res": float(np.abs(run["amg half-res"] - run["amg"]).max()),
             "amg+rf": float(np.abs(run["amg+rf"] - stages.refiners[1](features, attention).numpy()).max())}
    report = {"ms": {n: {"cpu": c, "wall": w} for n, c, w in zip(names, cpu, wall)},
              "max_abs_diff_vs_fast_path": exact}
    if accuracy:
        from ..exit_policy import ExitPolicy
        from ..flops import count_stage_flops
        from .accuracy import compare_precisions
        from .engine import FastDIRNet

        approx = copy.deepcopy(model)
        approx.feedback = HalfResAMG(approx.feedback)
        policy = ExitPolicy("none", max_loops=model.cfg.max_loops)
        result = compare_precisions(FastDIRNet(model), FastDIRNet(approx), count_stage_flops(model), accuracy,
                                    policy, limit)
        report["half_res_accuracy"] = {"data": accuracy, "n": result.n, "delta_vs_trained_amg": result.delta}
    return report
