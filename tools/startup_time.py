"""Time to the first processed frame of `python main.py --source demo` against the bare imports.

    xvfb-run -a python tools/startup_time.py [--runs 3]

Alternates two fresh processes per run: one that only imports torch, mediapipe, cv2, onnxruntime
and PyQt6's widgets (timed from its first line), and the app on the demo source, which prints
its own milestones ("startup: window 0.7 s · DIR-Net ... · first frame ... · CPU ...", timed from
the first line of main.py) and quits after one frame. Prints each run and the medians, and the
ratio of the first frame to the imports (the goal is <= 1.4), in wall time and in CPU time (all
threads: the work done, which other jobs on the machine sway less than the wall clock). An
untimed first start fills the bytecode cache (as a user's second start finds it) and the fast-path
cache (`--cold` empties a private one before every run instead, so every run pays the export).
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_IMPORTS = ("import time; t, c = time.perf_counter(), time.process_time(); "
            "import torch, mediapipe, cv2, onnxruntime; from PyQt6 import QtWidgets; "
            "print(time.perf_counter() - t, time.process_time() - c)")
_STEP = re.compile(r"([A-Za-z-][\w -]*?) (\d+\.\d+) s")


def user_env() -> dict:
    """The environment with compiled bytecode kept, as a user's Python keeps it: with
    PYTHONDONTWRITEBYTECODE (set here for the checkouts) every start compiled the app's and
    dirnet's modules again, about 0.2 s of CPU. It goes to a folder of the tools' own."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(Path(tempfile.gettempdir()) / "dirnet-startup-pycache")
    return env


def imports_s(env: dict) -> tuple[float, float]:
    """Wall and CPU seconds of the bare imports."""
    out = subprocess.run([sys.executable, "-c", _IMPORTS], capture_output=True, text=True, env=env,
                         check=True)
    wall, cpu = out.stdout.strip().splitlines()[-1].split()
    return float(wall), float(cpu)


def app_steps(env: dict) -> dict[str, float]:
    """The app's start-up milestones, seconds since main.py started."""
    out = subprocess.run([sys.executable, "main.py", "--source", "demo", "--max-frames", "1", "--fresh"],
                         capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    line = next((l for l in out.stdout.splitlines() if l.startswith("startup: ")), None)
    if line is None:
        raise RuntimeError(f"the app printed no start-up line:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return {name.strip(): float(t) for name, t in _STEP.findall(line[len("startup: "):])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="no fast-path cache: export at every start")
    args = parser.parse_args(argv)
    if not os.environ.get("DISPLAY"):
        parser.error("needs a display: run under xvfb-run -a")
    env = user_env()
    imports_s(env)  # untimed: fills the bytecode cache
    app_steps(env)
    imports, runs = [], []
    for run in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="dirnet-cold-cache-") as cache:
            if args.cold:
                env["XDG_CACHE_HOME"] = cache
            imports.append(imports_s(env))
            runs.append(app_steps(env))
        steps = "  ".join(f"{k} {v:.2f}" for k, v in runs[-1].items())
        (wall, cpu), app = imports[-1], runs[-1]
        print(f"run {run + 1}: imports {wall:.2f} s (CPU {cpu:.2f} s) | app: {steps} | "
              f"ratio {app['first frame'] / wall:.2f} (CPU {app['CPU'] / cpu:.2f})", flush=True)
    first = statistics.median(r["first frame"] for r in runs)
    window = statistics.median(r["window"] for r in runs)
    base = statistics.median(wall for wall, _ in imports)
    # each run's own ratio: the two processes of a run ran back to back, under the same load
    ratio = statistics.median(r["first frame"] / wall for r, (wall, _) in zip(runs, imports))
    cpu_ratio = statistics.median(r["CPU"] / cpu for r, (_, cpu) in zip(runs, imports))
    print(f"median: imports {base:.2f} s, window {window:.2f} s, first frame {first:.2f} s, "
          f"first frame / imports (median of runs) = {ratio:.2f}; CPU time to the first frame / "
          f"CPU time of the imports = {cpu_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
