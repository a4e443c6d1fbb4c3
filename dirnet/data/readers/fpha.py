"""FPHA, First-Person Hand Action benchmark (Garcia-Hernando et al., CVPR 2018).

On disk:
    ROOT/Hand_pose_annotation_v1/Subject_{k}/{action}/{seq}/skeleton.txt
        one line per frame: frame index, then 21 x (x, y, z) mm in the world (depth) frame
    ROOT/Video_files/Subject_{k}/{action}/{seq}/color/color_{frame:04d}.jpeg   1920x1080 RGB
The official loader (guiggh/hand_pose_action, load_example.py) maps world -> colour camera with the
4x4 `cam_extr` and projects with the colour intrinsics `cam_intr`; both are copied below.
Joint order: wrist, the five MCPs (thumb..pinky), then PIP, DIP, TIP of each finger. The thumb's
MCP/PIP/DIP/TIP are our CMC/MCP/IP/TIP. Every hand is a RIGHT hand.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from dirnet.data.readers.sample import HandSample, project, reorder

__all__ = ["read_fpha", "FPHA_K", "FPHA_EXTRINSICS", "FPHA_TO_OURS"]

FPHA_K = np.array([[1395.749023, 0.0, 935.732544], [0.0, 1395.749268, 540.681030],
                   [0.0, 0.0, 1.0]])
FPHA_EXTRINSICS = np.array([
    [0.999988496304, -0.00468848412856, 0.000982563360594, 25.7],
    [0.00469115935266, 0.999985218048, -0.00273845880292, 1.22],
    [-0.000969709653873, 0.00274303671904, 0.99999576807, 3.902],
])  # (3, 4): world mm -> colour camera mm

# Entry i: FPHA index of our joint i.
FPHA_TO_OURS = (0, 1, 6, 7, 8, 2, 9, 10, 11, 3, 12, 13, 14, 4, 15, 16, 17, 5, 18, 19, 20)


def read_fpha(root: str | Path, subjects: tuple[int, ...] | None = None) -> Iterator[HandSample]:
    """Yield every annotated FPHA colour frame.

    Args:
        root: folder holding Hand_pose_annotation_v1/ and Video_files/.
        subjects: subject numbers to read (e.g. (1, 3, 4) for the usual pose-estimation training
            subjects); None reads all.

    Raises:
        FileNotFoundError: no Hand_pose_annotation_v1 folder under root.
        ValueError: a skeleton.txt line without 1 + 63 numbers (names the file).
    """
    labels = Path(root) / "Hand_pose_annotation_v1"
    if not labels.is_dir():
        raise FileNotFoundError(f"missing FPHA folder: {labels}")
    for skeleton in sorted(labels.glob("Subject_*/*/*/skeleton.txt")):
        seq_dir = skeleton.parent.relative_to(labels)
        if subjects is not None and int(seq_dir.parts[0].split("_")[1]) not in subjects:
            continue
        table = np.loadtxt(skeleton, ndmin=2)
        if table.size == 0:
            continue
        if table.shape[1] != 1 + 63:
            raise ValueError(f"{skeleton}: expected 64 numbers per line, got {table.shape[1]}")
        world = table[:, 1:].reshape(-1, 21, 3)
        camera = world @ FPHA_EXTRINSICS[:, :3].T + FPHA_EXTRINSICS[:, 3]
        color = Path(root) / "Video_files" / seq_dir / "color"
        for frame, joints_world, joints in zip(table[:, 0].astype(int), world, camera):
            if not joints_world.any():  # frames without a tracked hand are all zeros
                continue
            joints = reorder(joints, FPHA_TO_OURS)
            yield HandSample(image_path=color / f"color_{frame:04d}.jpeg",
                             joints2d=project(joints, FPHA_K), joints3d=joints,
                             handedness="right", K=FPHA_K)
