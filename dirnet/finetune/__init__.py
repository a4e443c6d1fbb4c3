"""Fine-tuning on a user's own recordings: `python -m dirnet.finetune INPUT... --out DIR`.

data: the inputs labelled by the MediaPipe teacher and split in time (a held-out slice at the end
of each); score: the numbers before and after; run: one fine-tune (`finetune(FinetuneConfig)`),
what the command and the window's "Fine-tune on this session" both run. docs/FINETUNE.md.
"""
from .data import TooFewFrames
from .run import CHECKPOINT_NAME, FinetuneConfig, FinetuneProgress, FinetuneResult, finetune

__all__ = ["CHECKPOINT_NAME", "FinetuneConfig", "FinetuneProgress", "FinetuneResult", "TooFewFrames", "finetune"]
