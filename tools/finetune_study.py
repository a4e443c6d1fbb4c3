"""Measure `dirnet.finetune` on a person the model never saw (issue 15's targets).

    python tools/finetune_study.py --work runs/finetune_study [--set set1] [--minutes 8] [--seconds S]
                                   [any dirnet.finetune option, e.g. --lr 1e-4]

One person of `../shared/data/hand_photos/counting_wall` (a set: counting one to five on a grey
wall, a folder the shipped weights never trained on), in sequence order, is cut in two halves:
the first half becomes a 30 fps video (each photo held for `--seconds` / frames, so a 60 s
"recording" is `--seconds 60`) and is given to `python -m dirnet.finetune`; the second half (the
other counts: poses the fine-tune never sees) is labelled by the teacher and scored before and after
as a `--check`, beside the ASL clip. The command's own table then holds every number the issue asks
for; the weights' JSON keeps them (`finetune.before` / `finetune.after`).
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dirnet.data.teacher import TeacherConfig, run_teacher  # noqa: E402
from dirnet.evaluation.benchmark import ASL_CLIP, asl_clip_spec  # noqa: E402
from dirnet.finetune.__main__ import main as finetune_main  # noqa: E402

FPS = 30
PHOTOS = Path("../shared/data/hand_photos/counting_wall")


@dataclass(frozen=True)
class StudyConfig:
    work: Path  # folder for the video, the second half's crops and the weights
    photos: Path = PHOTOS
    set: str = "set1"  # file-name prefix of one person's sequences
    minutes: float = 8.0
    seconds: float | None = None  # length of the video; None = one frame per photo
    weights: Path | None = None


def sequence_order(photos: Path, prefix: str) -> list[Path]:
    """One set's photos by sequence (set1_1_one, set1_2_two, ...) and frame number within it."""
    def key(path: Path) -> tuple[str, int]:
        seq, frame = re.fullmatch(r"(.+)_(\d+)", path.stem).groups()
        return seq, int(frame)
    return sorted(photos.glob(f"{prefix}_*.jpg"), key=key)


def write_video(frames: list[Path], out: Path, seconds: float | None) -> None:
    """The photos as an mp4 at 30 fps, each held for an equal share of `seconds`."""
    first = cv2.imread(str(frames[0]))
    h, w = first.shape[:2]
    total = len(frames) if seconds is None else round(seconds * FPS)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (w, h))
    try:
        for i in tqdm(range(total), desc="video", unit="frame"):
            image = cv2.imread(str(frames[i * len(frames) // total]))
            writer.write(cv2.resize(image, (w, h)) if image.shape[:2] != (h, w) else image)
    finally:
        writer.release()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python tools/finetune_study.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--photos", type=Path, default=StudyConfig.photos)
    p.add_argument("--set", default=StudyConfig.set)
    p.add_argument("--minutes", type=float, default=StudyConfig.minutes)
    p.add_argument("--seconds", type=float, default=None)
    p.add_argument("--weights", type=Path, default=None)
    known, passed_on = p.parse_known_args(argv)  # the rest goes to dirnet.finetune as it is (e.g. --lr)
    cfg = StudyConfig(**vars(known))
    photos = sequence_order(cfg.photos, cfg.set)
    if len(photos) < 200:
        print(f"error: {len(photos)} photos of {cfg.set} in {cfg.photos}; need 200", file=sys.stderr)
        return 1
    first, second = photos[:len(photos) // 2], photos[len(photos) // 2:]
    cfg.work.mkdir(parents=True, exist_ok=True)
    video = cfg.work / "first_half.mp4"
    write_video(first, video, cfg.seconds)

    # The second half by symlinks, so the teacher labels exactly those photos.
    links = cfg.work / "second_half"
    links.mkdir(exist_ok=True)
    for path in second:
        link = links / path.name
        if not link.exists():
            link.symlink_to(path.resolve())
    crops = cfg.work / "second_half_crops"
    if not (crops / "index.jsonl").is_file():
        run_teacher(TeacherConfig(inputs=[links], out=crops, res=160, overwrite=True))
    print(f"{cfg.set}: {len(first)} photos fine-tuned on (video {video}), {len(second)} held back "
          f"(the other counts)")
    args = [str(video), "--out", str(cfg.work / "weights"), "--minutes", str(cfg.minutes), "--overwrite",
            "--check", f"teacher:{crops}"]
    if Path(ASL_CLIP).is_file():
        args += ["--check", asl_clip_spec(Path(ASL_CLIP))]
    if cfg.weights is not None:
        args += ["--weights", str(cfg.weights)]
    return finetune_main(args + passed_on)


if __name__ == "__main__":
    sys.exit(main())
