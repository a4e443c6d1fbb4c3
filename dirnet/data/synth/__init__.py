"""Synthetic hand crops with exact labels, rendered in batches by pure PyTorch (CPU or CUDA).

renderer: SynthRenderer and its batches; pose: random hand poses and cameras; mesh: the mesh's
shading helpers; output: datasets, contact sheets and benchmarks on disk; `python -m
dirnet.data.synth` is the command (__main__).
"""
from .output import benchmark, contact_sheet, write_dataset
from .renderer import SynthBatch, SynthConfig, SynthRenderer

__all__ = ["SynthConfig", "SynthBatch", "SynthRenderer", "write_dataset", "contact_sheet", "benchmark"]
