"""Write the starter gesture store `app/starter_gestures.json` from what the shipped model sees.

    python tools/build_gestures.py [--out app/starter_gestures.json] [--weights W]

Each starter is built the way a user captures a gesture in the app: the built-in demo renders the
open hand holding that gesture (several moments of its hold, so several views), the Estimator runs on
crops around the hand, and its 3D joints become the gesture's samples. Prototypes therefore live in
the estimator's own output space; the ideal hand-model poses are sharper than any estimate and
matched at confidences of 0.03-0.27 only. Rebuild after training new weights.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.gestures import STARTER_GESTURES, GestureStore  # noqa: E402
from dirnet import CYCLE_S, DemoHand, Estimator, box_from_points  # noqa: E402

_SAMPLES_PER_SECOND = 10


def starter_samples(estimator: Estimator, demo: DemoHand, offset: float = 0.0) -> dict[str, np.ndarray]:
    """(N, 21, 3) mm estimated joints per gesture, from demo frames every 0.1 s of one cycle
    (starting at `offset` s) that hold it."""
    samples: dict[str, list[np.ndarray]] = {}
    for t in np.arange(offset, CYCLE_S, 1.0 / _SAMPLES_PER_SECOND):
        name = demo.gesture_at(t)
        if name is None:
            continue
        box = box_from_points(demo.joints2d_at(t))
        pose = estimator.estimate(demo.render(t), ["right"], boxes=[box])[0]  # the app's exits
        samples.setdefault(name, []).append(pose.joints3d)
    return {name: np.stack(s) for name, s in samples.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=STARTER_GESTURES)
    parser.add_argument("--weights", type=Path, default=None)
    args = parser.parse_args(argv)
    store = GestureStore(args.out, starters=Path("/nonexistent"))
    store.gestures.clear()
    for name, samples in starter_samples(Estimator.from_pretrained(args.weights), DemoHand()).items():
        store.add(name, samples)
    store.save()
    print(f"wrote {len(store.gestures)} gestures to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
