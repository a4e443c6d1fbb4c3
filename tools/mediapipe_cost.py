"""What showing MediaPipe's landmarks costs: the app's pipeline on the same frames without and with them.

    python tools/mediapipe_cost.py [--source ../shared/data/asl_video/asl_hand.25fps.mp4] [--frames 150]

Runs app.pipeline.Pipeline (what the window and --headless run) over the first N frames of a
source held in memory (decoding is not timed), show_mediapipe off and on in turn for each round, so
both share the machine's load. Prints per run the frames per second (wall clock), the CPU time per
frame (every thread of this process: less swayed by other jobs on the machine than the wall clock)
and MediaPipe passes per frame, then the medians of each.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.detector import HandDetector  # noqa: E402
from app.model import load_estimator  # noqa: E402
from app.pipeline import Pipeline, PipelineSettings  # noqa: E402
from app.sources import open_source  # noqa: E402

_CLIP = ROOT.parent / "shared" / "data" / "asl_video" / "asl_hand.25fps.mp4"


def run(estimator, frames: list, show: bool) -> dict[str, float]:
    """One pass over `frames`; MediaPipe's graph is built and run once before the clock starts."""
    detector = HandDetector(max_hands=2, static=True)
    detector.detect(frames[0])
    pipeline = Pipeline(estimator, PipelineSettings(show_mediapipe=show), detector=detector)
    passes = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for i, frame in enumerate(frames):
        timings = pipeline.process(frame, i / 25, i).timings
        passes += "detect" in timings or "mediapipe" in timings
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    pipeline.close()
    return {"fps": len(frames) / wall, "cpu_ms": 1000 * cpu / len(frames), "passes": passes / len(frames)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(_CLIP), help="video, image folder or 'demo'")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    source = open_source(args.source)
    frames = []
    while len(frames) < args.frames and (frame := source.read()) is not None:
        frames.append(frame)
    source.close()
    estimator, messages = load_estimator(None)
    if estimator is None:
        parser.error("; ".join(messages))
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for round_ in range(args.rounds):
        for show in (False, True):
            runs[show].append(run(estimator, frames, show))
            r = runs[show][-1]
            print(f"round {round_ + 1}, MediaPipe {'shown' if show else 'off  '}: {r['fps']:5.1f} fps, "
                  f"{r['cpu_ms']:6.1f} ms CPU per frame, {r['passes']:.2f} MediaPipe passes per frame",
                  flush=True)
    for show, label in ((False, "off  "), (True, "shown")):
        med = {key: statistics.median(r[key] for r in runs[show]) for key in runs[show][0]}
        print(f"median, MediaPipe {label}: {med['fps']:5.1f} fps, {med['cpu_ms']:6.1f} ms CPU per frame, "
              f"{med['passes']:.2f} passes per frame ({len(frames)} frames of {Path(args.source).name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
