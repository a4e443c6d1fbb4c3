"""What a kill -9 leaves of a recording: `python tools/kill9_study.py --source SRC [--window] [--at 1 2 5]`.

Starts `main.py --record` (headless, or the window with --window), kills it with SIGKILL the given
seconds after its first frames.jsonl line, and prints per kill: frames.jsonl lines, the video frame
the last line names, and the frames that decode from each MP4 (and how many seconds of the video
before that last line are missing).
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]


def _decodable(path: Path) -> tuple[int, float]:
    """Frames that decode and the time of the last one (s); (0, 0) when the file does not open."""
    try:
        with av.open(str(path)) as container:
            times = [float(f.time) for f in container.decode(video=0)]
    except (av.FFmpegError, OSError):
        return 0, 0.0
    return len(times), (times[-1] if times else 0.0)


def kill_after(source: str, seconds: float, window: bool, out: Path) -> dict:
    args = [sys.executable, str(ROOT / "main.py"), "--source", source, "--record", str(out)]
    args.append("--fresh" if window else "--headless")
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not any(p.stat().st_size for p in out.glob("*/frames.jsonl")):
        if proc.poll() is not None:
            raise SystemExit(f"main.py ended with {proc.returncode} before recording")
        time.sleep(0.02)
    time.sleep(seconds)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (session,) = out.iterdir()
    lines = [json.loads(x) for x in (session / "frames.jsonl").read_text().splitlines()]
    row = {"killed_at_s": seconds, "jsonl_lines": len(lines), "last_line_frame": lines[-1]["frame"],
           "last_line_t": lines[-1]["t"]}
    for name in ("raw", "annotated"):
        frames, last_t = _decodable(session / f"{name}.recording.mp4")
        row[f"{name}_frames"] = frames
        row[f"{name}_lost_s"] = round(max(lines[-1]["t"] - last_t, 0.0), 3) if frames else None
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True)
    p.add_argument("--window", action="store_true", help="record from the window, not --headless")
    p.add_argument("--at", type=float, nargs="+", default=[1.0, 2.0, 5.0],
                   help="seconds after the first frames.jsonl line")
    a = p.parse_args(argv)
    for seconds in a.at:
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(kill_after(a.source, seconds, a.window, Path(tmp))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
