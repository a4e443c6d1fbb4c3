"""Fast inference for DIR-Net: folded BatchNorms, per-stage ONNX graphs, ONNX Runtime sessions."""
from __future__ import annotations

from .cache import DEFAULT_CACHE, cache_key, cached_stage_graphs
from .engine import BACKENDS, FastDIRNet, configure_threads, images_to_tensor
from .onnx import OPSET, StageGraph, create_session, stage_graphs
from .stages import HEAD_OUTPUTS, InferenceStages, fold_conv_bn

__all__ = ["BACKENDS", "FastDIRNet", "configure_threads", "images_to_tensor",
           "OPSET", "StageGraph", "create_session", "stage_graphs", "HEAD_OUTPUTS",
           "InferenceStages", "fold_conv_bn", "DEFAULT_CACHE", "cache_key", "cached_stage_graphs"]
