"""AppConfig: every command-line choice of the live app, and the parser that fills it."""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .personal_weights import PERSONAL_WEIGHTS

__all__ = ["AppConfig", "parse_args", "DEFAULT_GESTURES", "DEFAULT_SETTINGS"]

# The user's own gesture store; until it exists the shipped starters (app/starter_gestures.json) are used.
_CONFIG_HOME = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
DEFAULT_GESTURES = _CONFIG_HOME / "dirnet" / "gestures.json"
# What the window remembers between runs (app/remembered.py).
DEFAULT_SETTINGS = _CONFIG_HOME / "dirnet" / "app.ini"

_EXIT_MODES = ("none", "variance", "gate")


@dataclass
class AppConfig:
    """What `python main.py ...` asked for; the GUI and the headless runner both start from it."""

    source: str = "auto"  # "auto" (camera 0, else demo), "demo", a camera index, or a video/folder path
    width: int = 1280  # requested camera resolution (the camera may pick the nearest it supports)
    height: int = 720
    fps: float = 30.0  # requested camera rate; also the pace of image folders
    weights: Path | None = None  # safetensors file or folder; None = the shipped weights
    device: str = "cpu"
    threads: int = 1  # torch threads for DIR-Net: 1 leaves the other cores to capture, MediaPipe, UI
    exit_mode: str = "gate"  # "none" | "variance" | "gate" (the paper's Sec. 4 exits)
    tau_gate: float | None = None  # None = the weights' defaults (Estimator.defaults)
    tau_var: float | None = None
    max_loops: int | None = None
    smoothing: bool = True  # One Euro filter on joints and mesh
    min_cutoff: float = 1.0  # One Euro: Hz of the still-hand cut-off (lower = steadier, laggier)
    beta: float = 0.05  # One Euro: how fast the cut-off rises with speed (higher = less lag)
    max_hands: int = 2
    show_mediapipe: bool = False  # draw MediaPipe's own landmarks beside ours (costs ~17 ms/frame)
    mirror: bool = False  # mirror the view (selfie style); processing always sees the camera image
    headless: bool = False
    camera_wait: float = 10.0  # headless: seconds to wait for an absent camera before giving up; 0 = forever
    max_frames: int | None = None  # stop after this many processed frames
    record: Path | None = None  # session root: each run records into a new folder under it
    screenshot: Path | None = None  # GUI: save the window after max_frames frames, then quit
    gestures: Path = DEFAULT_GESTURES  # the user's JSON gesture store (seeded from the starters)
    gesture_threshold: float = 0.6  # confidence needed to report a gesture
    settings_file: Path | None = None  # the window's remembered choices; None: none (parse_args: DEFAULT_SETTINGS)
    given: frozenset[str] = frozenset()  # fields set on the command line: they win over remembered ones
    personal_weights: Path = PERSONAL_WEIGHTS  # where fine-tunes of recordings go, one folder each
    finetune_minutes: float = 6.0  # training time of "Fine-tune on this session" (dirnet.finetune)

    def __post_init__(self) -> None:
        if self.exit_mode not in _EXIT_MODES:
            raise ValueError(f"exit mode must be one of {_EXIT_MODES}, got {self.exit_mode!r}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"--max-frames must be >= 1, got {self.max_frames}")
        if self.max_loops is not None and self.max_loops < 1:
            raise ValueError(f"--max-loops must be >= 1, got {self.max_loops}")
        if self.camera_wait < 0:
            raise ValueError(f"--camera-wait must be >= 0, got {self.camera_wait}")
        if self.threads < 1:
            raise ValueError(f"--threads must be >= 1, got {self.threads}")
        if not 1 <= self.max_hands <= 2:
            raise ValueError(f"--max-hands must be 1 or 2, got {self.max_hands}")
        if self.finetune_minutes <= 0:
            raise ValueError(f"--finetune-minutes must be > 0, got {self.finetune_minutes}")
        if self.screenshot is not None and self.headless:
            raise ValueError("--screenshot needs the window; drop --headless")


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="main.py", description="DIR-Net live 3D hand tracker (window, or --headless).")
    p.add_argument("--source", default="auto",
                   help="camera index, video file, image folder, 'demo', or 'auto' (camera 0, else demo)")
    p.add_argument("--resolution", default="1280x720", help="requested camera resolution WxH")
    p.add_argument("--fps", type=float, default=30.0, help="requested camera fps / image folder pace")
    p.add_argument("--weights", type=Path, help="DIR-Net weights (.safetensors or folder); default: shipped")
    p.add_argument("--device", default="cpu", help="torch device for DIR-Net")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for DIR-Net (default 1: capture, MediaPipe and the UI need the rest)")
    p.add_argument("--exit", dest="exit_mode", choices=_EXIT_MODES, default="gate",
                   help="dynamic exit policy")
    p.add_argument("--tau-gate", type=float, help="gate softmax temperature (higher exits earlier)")
    p.add_argument("--tau-var", type=float, help="variance threshold for --exit variance")
    p.add_argument("--max-loops", type=int, help="most refiner passes per hand")
    p.add_argument("--no-smoothing", dest="smoothing", action="store_false",
                   help="turn the One Euro filter off")
    p.add_argument("--min-cutoff", type=float, default=1.0, help="One Euro min cut-off (Hz)")
    p.add_argument("--beta", type=float, default=0.05, help="One Euro speed coefficient")
    p.add_argument("--max-hands", type=int, default=2, choices=(1, 2))
    p.add_argument("--show-mediapipe", action="store_true", help="draw MediaPipe's landmarks beside ours")
    p.add_argument("--mirror", action="store_true", help="mirror the view (selfie style)")
    p.add_argument("--headless", action="store_true", help="no window; print a status line per second")
    p.add_argument("--camera-wait", type=float, default=10.0, metavar="S",
                   help="headless: seconds to wait for a camera that is absent or drops out before "
                        "giving up (default 10; 0 waits until Ctrl+C)")
    p.add_argument("--max-frames", type=int, help="stop after N processed frames")
    p.add_argument("--record", type=Path, metavar="DIR", help="record a session into a new folder under DIR")
    p.add_argument("--screenshot", type=Path, metavar="PNG",
                   help="save the window after --max-frames, then quit")
    p.add_argument("--gestures", type=Path, default=DEFAULT_GESTURES, help="gesture store (JSON)")
    p.add_argument("--gesture-threshold", type=float, default=0.6, help="confidence to report a gesture")
    p.add_argument("--fresh", action="store_true",
                   help=f"window: start from the defaults and remember nothing of this run "
                        f"(otherwise layout and choices are kept in {DEFAULT_SETTINGS})")
    p.add_argument("--personal-weights", type=Path, default=PERSONAL_WEIGHTS, metavar="DIR",
                   help="where fine-tunes of your recordings are written and listed (default %(default)s)")
    p.add_argument("--finetune-minutes", type=float, default=6.0,
                   help="training time of 'Fine-tune on this session' (default 6)")
    return p


def _given(parser: argparse.ArgumentParser, argv: Sequence[str] | None, names) -> frozenset[str]:
    """The AppConfig fields the command line set: argparse leaves a value that is already in the
    namespace alone unless the argument is given, so only the given ones lose the marker."""
    unset = object()
    namespace = parser.parse_args(argv, argparse.Namespace(**{name: unset for name in names}))
    given = {name for name, value in vars(namespace).items() if value is not unset}
    if "resolution" in given:
        given |= {"width", "height"}
    return frozenset(given & set(AppConfig.__dataclass_fields__))


def parse_args(argv: Sequence[str] | None = None) -> AppConfig:
    """Parse the command line into an AppConfig.

    Bad values end the program with one line on stderr (argparse's usage error), no traceback.

    Args:
        argv: arguments without the program name; None reads sys.argv.
    """
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.resolution.lower().split("x"))
    except ValueError:
        parser.error(f"--resolution must look like 1280x720, got {args.resolution!r}")
    if args.screenshot is not None and args.max_frames is None:
        args.max_frames = 30  # a screenshot of an empty window is no use; wait for some frames
    values = vars(args)
    given = _given(parser, argv, list(values))
    del values["resolution"]
    values["settings_file"] = None if values.pop("fresh") else DEFAULT_SETTINGS
    try:
        return AppConfig(width=width, height=height, given=given, **values)
    except ValueError as exc:
        parser.error(str(exc))
