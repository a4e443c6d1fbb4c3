"""What the window's start-up costs step by step: everything it does before its first frame, run one
step after another in one thread, CPU and wall seconds each, against the bare imports.

    xvfb-run -a python tools/startup_steps.py [--runs 3]

The app runs these steps in three threads (window; DIR-Net; MediaPipe; the source), but Python
runs one thread at a time, so their sum is close to its critical path: what is not one of the bare
imports (Qt, torch, mediapipe, cv2, onnxruntime: the yardstick of tools/startup_time.py) is what
the app adds. Each run is a fresh process, with bytecode cached as in tools/startup_time.py; the
medians are printed at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

from startup_time import user_env  # tools/ is on sys.path when this runs as a script

ROOT = Path(__file__).resolve().parents[1]
_BARE = ("Qt + QApplication", "import torch", "import mediapipe", "import cv2, onnxruntime")

_STEPS = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {root!r})
    steps, last = {{}}, [time.process_time(), time.perf_counter()]
    def step(name):
        now = [time.process_time(), time.perf_counter()]
        steps[name] = [now[0] - last[0], now[1] - last[1]]
        last[:] = now
    from PyQt6.QtWidgets import QApplication; app = QApplication([]); step("Qt + QApplication")
    import pyqtgraph; step("import pyqtgraph")
    from app.config import parse_args; from app.main_window import MainWindow; from app.theme import apply_theme
    step("import the window's modules")
    apply_theme(app); window = MainWindow(parse_args(["--fresh", "--source", "demo"]))
    window.show(); app.processEvents(); step("build and paint the window")
    import torch; step("import torch")
    import mediapipe; step("import mediapipe")
    import cv2, onnxruntime; step("import cv2, onnxruntime")
    from app.model import load_estimator; estimator, _ = load_estimator(None, threads=1)
    step("load DIR-Net (modules, weights, fast path)")
    from app.worker import _warm_detector; detector = _warm_detector(); step("start MediaPipe (graph, first call)")
    from app.sources import open_source; source = open_source("demo", 1280, 720, 30); step("open the demo")
    frame = source.read(); step("the demo's first frame")
    from app.gestures import GestureMatcher; from app.pipeline import Pipeline, PipelineSettings
    from app.drawing import annotate
    pipeline = Pipeline(estimator, PipelineSettings(), GestureMatcher(), detector=detector)
    image = annotate(pipeline.process(frame, 0.0, 0)); step("process and draw the first frame")
    window.video.set_image(image); app.processEvents(); step("show it")
    print(json.dumps(steps))
""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        parser.error("needs a display: run under xvfb-run -a")
    script, env = _STEPS.format(root=str(ROOT)), user_env()
    runs = []
    for _ in range(args.runs + 1):  # the first, untimed, fills the bytecode cache
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT,
                             env=env, check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs = runs[1:]
    for name in runs[0]:
        cpu, wall = (statistics.median(r[name][i] for r in runs) for i in (0, 1))
        print(f"{name:45s} CPU {cpu:5.2f} s  wall {wall:5.2f} s" + ("  (bare import)" if name in _BARE else ""))
    bare = statistics.median(sum(r[n][0] for n in _BARE) for r in runs)
    added = statistics.median(sum(v[0] for n, v in r.items() if n not in _BARE) for r in runs)
    print(f"CPU: bare imports {bare:.2f} s, everything else {added:.2f} s = {added / bare:.2f}x the imports "
          f"(median of {args.runs} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
