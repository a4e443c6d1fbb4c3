"""`python -m dirnet.training --config CONFIG`: progressive (Algorithm 1) or end-to-end training.

Several GPUs (or CPU processes): `torchrun --nproc_per_node N -m dirnet.training --config ...`.
What a run writes and how it resumes: dirnet.training.loop. Flags override the config's fields.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from ..cli import EXIT_USAGE, configure_logging, fail
from ..weights import read_metadata
from .loop import load_config, train

log = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m dirnet.training",
                                description="Train DIR-Net (progressive or end-to-end).")
    p.add_argument("--config", help="YAML or JSON TrainConfig file")
    p.add_argument("--out", dest="out_dir", metavar="DIR", help="output folder (the config's out_dir)")
    p.add_argument("--protocol", choices=("progressive", "end_to_end"))
    p.add_argument("--batch-size", dest="batch_size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--device", choices=("auto", "cpu", "cuda"))
    a = vars(p.parse_args(argv))
    configure_logging()
    try:
        cfg = load_config(a.pop("config"), a)
    except (OSError, ValueError, TypeError) as exc:
        return fail(f"bad config: {exc}", EXIT_USAGE)
    if cfg.init:
        try:
            read_metadata(cfg.init)
        except (OSError, ValueError) as exc:
            return fail(f"bad init weights: {exc}", EXIT_USAGE)
    try:
        path = train(cfg)
    except (FileNotFoundError, ValueError) as exc:
        return fail(str(exc))
    if int(os.environ.get("RANK", "0")) == 0:
        log.info("final checkpoint: %s", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
