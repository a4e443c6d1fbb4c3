"""Write the starter gesture store `assets/gestures.json` from the hand model's named gesture poses.

    python tools/build_gestures.py [--out assets/gestures.json]

Each starter is one sample: the 21 joints (mm, MediaPipe order) of the shipped open hand posed
with `dirnet.hand.poses.gesture_angles(name)`. Matching uses pose features (`app.gestures`), which
do not depend on the hand's size or placement, so these match any user's hand in the same pose.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.gestures import STARTER_GESTURES, GestureStore  # noqa: E402
from dirnet.hand import create_hand_model  # noqa: E402
from dirnet.hand.poses import gesture_angles  # noqa: E402

STARTERS = ("open_palm", "fist", "point", "pinch", "thumbs_up", "victory")


def starter_joints(names=STARTERS) -> dict[str, np.ndarray]:
    """(21, 3) mm joints of the open hand in each named gesture (identity orientation, mean shape)."""
    model = create_hand_model("open").eval()
    angles = torch.from_numpy(np.stack([gesture_angles(n) for n in names]))
    with torch.no_grad():
        out = model(torch.eye(3).expand(len(names), 3, 3), model.angles_to_pose(angles),
                    torch.zeros(len(names), model.num_shape))
    return dict(zip(names, out.joints.numpy()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STARTER_GESTURES)
    args = parser.parse_args(argv)
    store = GestureStore(args.out, starters=Path("/nonexistent"))
    store.gestures.clear()
    for name, joints in starter_joints().items():
        store.add(name, joints[None])
    store.save()
    print(f"wrote {len(store.gestures)} gestures to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
