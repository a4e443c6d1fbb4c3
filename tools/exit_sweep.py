"""How tau_gate and tau_var move the mean number of refiner loops on real crops (the app's slider ranges).

    python tools/exit_sweep.py [--video ../shared/data/asl_video/asl_hand.25fps.mp4] [--frames 200]

Crops each frame of the clip around MediaPipe's reference landmarks stored beside it
(`asl_hand.full.json`), as the app's tracker would, and prints the mean loops per crop for a log
sweep of each threshold with the shipped weights.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dirnet.crop import DEFAULT_MARGIN, box_from_points, crop_matrix, warp  # noqa: E402
from dirnet.estimator import Estimator  # noqa: E402

_CLIP = Path(__file__).resolve().parents[2] / "shared" / "data" / "asl_video" / "asl_hand.25fps.mp4"


def clip_crops(video: Path, frames: int, res: int) -> list[np.ndarray]:
    """RGB crops of the first `frames` frames around the reference landmarks."""
    landmarks = json.loads(video.with_name("asl_hand.full.json").read_text())
    capture = cv2.VideoCapture(str(video))
    crops = []
    for points in landmarks[:frames]:
        ok, bgr = capture.read()
        if not ok:
            break
        if not points:
            continue
        box = box_from_points(np.asarray(points, np.float32)[:, :2], DEFAULT_MARGIN)
        crops.append(warp(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), crop_matrix(box, res), res))
    return crops


def mean_loops(estimator: Estimator, crops: list[np.ndarray], **policy) -> float:
    return float(np.mean([p.loops for p in estimator.estimate(crops, "right", **policy)]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=_CLIP)
    parser.add_argument("--frames", type=int, default=200)
    args = parser.parse_args(argv)
    estimator = Estimator.from_pretrained()
    crops = clip_crops(args.video, args.frames, estimator.input_res)
    print(f"{len(crops)} crops of {args.video.name}; defaults {estimator.defaults}")
    print("tau_gate  mean loops (exit gate)")
    for tau in np.geomspace(0.01, 100, 17):
        print(f"{tau:8.3g}  {mean_loops(estimator, crops, exit_mode='gate', tau_gate=float(tau)):.2f}")
    print("tau_var   mean loops (exit variance)")
    for tau in np.geomspace(0.1, 10000, 11):
        print(f"{tau:8.3g}  {mean_loops(estimator, crops, exit_mode='variance', tau_var=float(tau)):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
