"""Result dataclasses the Estimator returns: numpy only, so callers never touch torch."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .crop import Box

__all__ = ["HandPose", "LoopTrace"]


@dataclass(frozen=True)
class LoopTrace:
    """What one refiner pass predicted (one entry per executed loop, as in the paper's Fig. 4).

    joints2d: (21, 2) float32, pixels of the input image (the crop, or the frame of the boxes).
    joints3d: (21, 3) float32, millimetres, camera axes, wrist-relative.
    var2d: (21, 2) float32, predicted variance sigma^2 of joints2d, image pixels squared.
    var3d: (21, 3) float32, predicted variance of joints3d, mm squared.
    exit_prob: probability the gate gave to EXIT after this loop (at the tau_gate used).
    """

    joints2d: np.ndarray
    joints3d: np.ndarray
    var2d: np.ndarray
    var3d: np.ndarray
    exit_prob: float


@dataclass(frozen=True)
class HandPose:
    """One hand estimated from one crop or one box of a frame; fields come from the last loop executed.

    handedness: "left" or "right" (left hands were mirrored in and their results mirrored out).
    joints2d: (21, 2) float32, pixels of the input image (the crop, or the frame of the boxes),
        MediaPipe joint order.
    joints3d: (21, 3) float32, millimetres, camera axes (x right, y down, z away), wrist at 0.
    vertices: (V, 3) float32, millimetres, same frame as joints3d.
    faces: (F, 3) int32 triangle indices into vertices (winding flipped for left hands).
    var2d, var3d: predicted variances of the final joints (image px^2, mm^2).
    loops: refiner passes executed (1 = no iteration, up to max_loops).
    gflops: GFLOPs this hand actually cost (1 multiply-add = 2 FLOPs).
    trace: one LoopTrace per executed loop, in order.
    box: the square region of the input image the network saw (image px; a non-square crop's
        whole extent padded to a square, or the box it was given).
    reframed: the crop framed the hand loosely and this is a second pass on a tighter box
        (Estimator.estimate(reframe=True)); joints2d are still in the input crop's px.
    """

    handedness: str
    joints2d: np.ndarray
    joints3d: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray
    var2d: np.ndarray
    var3d: np.ndarray
    loops: int
    gflops: float
    trace: tuple[LoopTrace, ...]
    box: Box
    reframed: bool = False

    @property
    def mean_var2d(self) -> float:
        """Mean predicted 2D variance of the final joints, image px^2."""
        return float(self.var2d.mean())
