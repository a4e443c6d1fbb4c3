"""`python -m dirnet.data.synth`: synthetic hand crops with exact labels, written to disk.

    python -m dirnet.data.synth --n N --out DIR [--res 224] [--backgrounds DIR] [--batch-size B]

writes DIR/images/%06d.jpg, DIR/masks/%06d.png and DIR/labels.npz (see
`dirnet.data.synth.output.write_dataset`); `--bench` measures images/s; `--sheet PNG` writes a
contact sheet and a copy with the 2D joints drawn. docs/SYNTH.md has more.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import torch

from dirnet.cli import EXIT_USAGE, configure_logging, fail
from dirnet.data.backgrounds import BackgroundBank
from dirnet.data.synth.output import benchmark, check_output_free, contact_sheet, write_dataset, write_png
from dirnet.data.synth.renderer import SynthConfig, SynthRenderer

__all__ = ["SynthCliConfig", "main"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SynthCliConfig:
    """Options of `python -m dirnet.data.synth`."""

    n: int = 0  # images to write (with --out)
    out: str | None = None  # dataset folder to create
    res: int = 224  # crop side, px (multiple of 16)
    seed: int = 0
    hand_model: str = "open"  # "open" or "mano"
    mano_path: str | None = None  # MANO_RIGHT.pkl for --hand-model mano (else $DIRNET_MANO_PATH)
    backgrounds: str | None = None  # folder of photos without hands to cut backgrounds from
    avoid_boxes: str | None = None  # JSON {relative image path: [[x0, y0, x1, y1], ...]} to keep out
    batch_size: int = 64  # images per rendered batch
    device: str = "cpu"
    right_only: bool = False  # no mirrored left hands
    threads: int | None = None  # torch CPU threads (default: torch's choice)
    bench: bool = False  # time rendering instead of writing
    bench_batches: int = 5
    sheet: str | None = None  # write a contact sheet PNG here (and *_joints.png with labels)
    sheet_tile: int = 112  # tile side of the contact sheet, px
    sheet_count: int = 64  # crops on the contact sheet, 8 per row


def _parse(argv: list[str] | None) -> SynthCliConfig:
    parser = argparse.ArgumentParser(prog="python -m dirnet.data.synth", description=__doc__.split("\n")[0])
    defaults = SynthCliConfig()
    for f in fields(SynthCliConfig):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true")
        else:
            kind = int if isinstance(f.default, int) or f.name == "threads" else str
            parser.add_argument(flag, type=kind, default=getattr(defaults, f.name))
    return SynthCliConfig(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status (dirnet.cli)."""
    cfg = _parse(argv)
    configure_logging()
    if not (cfg.bench or cfg.sheet or (cfg.out and cfg.n > 0)):
        return fail("give --n N --out DIR, --bench or --sheet PNG", EXIT_USAGE)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        if cfg.out:
            check_output_free(Path(cfg.out))  # before the slow set-up
        from dirnet.hand import create_hand_model
        bank = None
        if cfg.backgrounds:
            avoid = json.loads(Path(cfg.avoid_boxes).read_text()) if cfg.avoid_boxes else None
            bank = BackgroundBank.from_folder(cfg.backgrounds, cfg.res, avoid_boxes=avoid, seed=cfg.seed)
        writes_jpeg = bool(cfg.out)
        config = SynthConfig(left_prob=0.0 if cfg.right_only else 0.5, jpeg_prob=0.0 if writes_jpeg else 0.4)
        renderer = SynthRenderer(create_hand_model(cfg.hand_model, cfg.mano_path), res=cfg.res,
                                 device=cfg.device, backgrounds=bank, config=config)
        if cfg.bench:
            result = benchmark(renderer, cfg.batch_size, cfg.bench_batches, cfg.seed)
            print(f"{result['images_per_s']:.1f} images/s: batch {cfg.batch_size} at {cfg.res} px on {cfg.device} "
                  f"({torch.get_num_threads()} threads), median {result['batch_ms']:.0f} ms per batch "
                  f"({result['cpu_ms']:.0f} ms CPU time) over {cfg.bench_batches} batches; "
                  f"load average {os.getloadavg()[0]:.1f}")
        if cfg.sheet:
            gen = torch.Generator(device=renderer.device).manual_seed(cfg.seed)
            batch = renderer.sample(cfg.sheet_count, gen)
            sheet = Path(cfg.sheet)
            for path, joints in ((sheet, False), (sheet.with_stem(sheet.stem + "_joints"), True)):
                write_png(path, contact_sheet(batch, tile=cfg.sheet_tile, joints=joints))
                log.info("wrote %s", path)
        if cfg.out:
            out = write_dataset(renderer, cfg.n, cfg.out, cfg.seed, cfg.batch_size)
            log.info("wrote %d images and labels to %s", cfg.n, out)
    except (ValueError, FileNotFoundError, FileExistsError, json.JSONDecodeError) as exc:
        return fail(str(exc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
