"""STB, the Stereo Hand Pose Tracking Benchmark (Zhang et al., ICIP 2017), Intel SR300 ("SK") part.

On disk (as released):
    ROOT/images/B{1..6}{Counting,Random}/SK_color_{i}.png   640x480 RGB, i = 0..1499
    ROOT/labels/B{1..6}{Counting,Random}_SK.mat             'handPara': (3, 21, 1500) mm
(a copy without the `images/` level, ROOT/B1Counting/..., is accepted too). The labels are in the
depth camera's frame; the readme's rotation vector / translation take colour-camera coordinates to
depth-camera ones (X_d = R X_c + T), so X_c = R^T (X_d - T). Joint order: palm centre, then little,
ring, middle, index, thumb, each MCP to tip. Every hand is a LEFT hand. STB has no wrist joint:
like Ge et al. (CVPR 2019) we put it at palm + (palm - ring MCP), i.e. 2 palm - ring MCP.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from dirnet.data.readers.sample import HandSample, project, reorder, require_file

__all__ = ["read_stb", "STB_SK_K", "STB_SK_ROTATION", "STB_SK_TRANSLATION", "STB_TO_OURS",
           "STB_SEQUENCES", "stb_depth_to_color"]

# SR300 colour intrinsics and colour->depth extrinsics from the STB readme.
STB_SK_K = np.array([[607.92271, 0.0, 314.78337], [0.0, 607.88192, 236.42484], [0.0, 0.0, 1.0]])
STB_SK_ROTATION = cv2.Rodrigues(np.array([0.00531, -0.01196, 0.00301]))[0]
STB_SK_TRANSLATION = np.array([-24.0381, -0.4563, -1.2326])  # mm

# Entry i: STB index of our joint i. Our wrist (0) is filled from the palm (STB 0), see above.
STB_TO_OURS = (0, 17, 18, 19, 20, 13, 14, 15, 16, 9, 10, 11, 12, 5, 6, 7, 8, 1, 2, 3, 4)
_RING_MCP = 13  # our index

STB_SEQUENCES = {
    "train": tuple(f"B{i}{kind}" for i in range(2, 7) for kind in ("Counting", "Random")),
    "test": ("B1Counting", "B1Random"),
}
STB_SEQUENCES["all"] = STB_SEQUENCES["test"] + STB_SEQUENCES["train"]


def stb_depth_to_color(points: np.ndarray) -> np.ndarray:
    """(..., 3) mm in the SR300 depth camera frame -> (..., 3) mm in its colour camera frame."""
    return (np.asarray(points, np.float64) - STB_SK_TRANSLATION) @ STB_SK_ROTATION


def read_stb(root: str | Path, split: str = "train") -> Iterator[HandSample]:
    """Yield STB SK colour frames with 3D joints (mm, colour camera) and their projections.

    Args:
        root: STB folder holding `labels/` and `images/` (or the sequence folders directly).
        split: "train" (B2-B6, the usual protocol), "test" (B1) or "all".

    Raises:
        ValueError: unknown split or a label file of the wrong shape.
        FileNotFoundError: a missing label file.
    """
    from scipy.io import loadmat  # scipy is only needed by this reader

    if split not in STB_SEQUENCES:
        raise ValueError(f"split must be one of {sorted(STB_SEQUENCES)}, got {split!r}")
    root = Path(root)
    images = root / "images" if (root / "images").is_dir() else root
    for sequence in STB_SEQUENCES[split]:
        para = loadmat(str(require_file(root / "labels" / f"{sequence}_SK.mat")))["handPara"]
        if para.ndim != 3 or para.shape[:2] != (3, 21):
            raise ValueError(f"{sequence}_SK.mat: handPara must be (3, 21, N), got {para.shape}")
        joints = reorder(stb_depth_to_color(np.transpose(para, (2, 1, 0))), STB_TO_OURS)
        joints[:, 0] = 2.0 * joints[:, 0] - joints[:, _RING_MCP]  # palm centre -> wrist
        for i, frame in enumerate(joints):
            yield HandSample(image_path=images / sequence / f"SK_color_{i}.png",
                             joints2d=project(frame, STB_SK_K), joints3d=frame,
                             handedness="left", K=STB_SK_K)
