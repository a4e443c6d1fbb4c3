"""DIR-Net model definitions."""
from .dirnet import DIRNet, LoopOutput, create_model, dirnet_fpha, dirnet_stb

__all__ = ["DIRNet", "LoopOutput", "create_model", "dirnet_fpha", "dirnet_stb"]
