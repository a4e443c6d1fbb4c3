"""Fast inference for DIR-Net: folded BatchNorms, per-stage ONNX graphs, ONNX Runtime sessions,
int8 stages where measurement says they pay (quantize, calibrate)."""
from __future__ import annotations

from .cache import DEFAULT_CACHE, cache_key, cached_stage_graphs
from .engine import BACKENDS, FastDIRNet, auto_threads, configure_threads, images_to_tensor
from .onnx import OPSET, StageGraph, create_session, stage_graphs
from .quantize import PRECISIONS, Int8Plan, load_plan, plan_path
from .stages import HEAD_OUTPUTS, InferenceStages, fold_conv_bn

__all__ = ["BACKENDS", "FastDIRNet", "auto_threads", "configure_threads", "images_to_tensor",
           "OPSET", "StageGraph", "create_session", "stage_graphs", "HEAD_OUTPUTS",
           "InferenceStages", "fold_conv_bn", "DEFAULT_CACHE", "cache_key", "cached_stage_graphs",
           "PRECISIONS", "Int8Plan", "load_plan", "plan_path"]
