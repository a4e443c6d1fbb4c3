"""Write the hand boxes found by the teacher as `--avoid-boxes` JSON for `dirnet.data.synth`.

    python tools/teacher_avoid_boxes.py --photos ../shared/data/hand_photos \\
        --teacher data/teacher/* --out data/avoid_boxes.json

Photo backgrounds for synthetic renders must not contain hands: every teacher crop names its source
image and box, which become {image path relative to --photos: [[x0, y0, x1, y1], ...]}.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--photos", type=Path, required=True)
    p.add_argument("--teacher", type=Path, nargs="+", required=True, help="teacher --out folders")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    photos = a.photos.resolve()
    boxes: dict[str, list[list[float]]] = {}
    for folder in a.teacher:
        with open(folder / "index.jsonl", encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                source = Path(record["source"]).resolve()
                if photos not in source.parents:
                    continue
                cx, cy, size = record["box"]
                boxes.setdefault(source.relative_to(photos).as_posix(), []).append(
                    [cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2])
    tmp = a.out.with_name(f".{a.out.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(boxes))
    os.replace(tmp, a.out)
    print(f"{sum(map(len, boxes.values()))} boxes in {len(boxes)} images -> {a.out}")


if __name__ == "__main__":
    main()
