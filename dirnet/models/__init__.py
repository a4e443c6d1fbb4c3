"""DIR-Net model definitions."""
from .dirnet import DIRNet, create_model, dirnet_fpha, dirnet_stb
from .staged import LoopOutput, StagedModel, forward_loops

__all__ = ["DIRNet", "LoopOutput", "StagedModel", "forward_loops", "create_model", "dirnet_fpha", "dirnet_stb"]
