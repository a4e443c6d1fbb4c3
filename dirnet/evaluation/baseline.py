"""MediaPipe Hands (full model) as a baseline on the evaluation's own crops.

Where labels are not MediaPipe's (synthetic renders, public datasets), this puts both trackers on
one yardstick: MediaPipe sees the same crop as DIR-Net (cut around the labelled joints), at 256 px,
and its landmarks are scored by the same functions. Crops where it finds no hand are counted, and
DIR-Net is also summarised on just the crops MediaPipe found, so neither side is flattered.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..data.teacher import MediaPipeTeacher
from ..mediapipe_hands import quiet_native_stderr
from .metrics import EvalSummary, JointErrors, joint_errors, summarize_errors
from .sources import EvalSource

__all__ = ["BASELINE_RES", "BaselineReport", "mediapipe_errors", "compare_on_found"]

BASELINE_RES = 256  # MediaPipe's palm detector wants more pixels than DIR-Net's 128 px input


@dataclass(frozen=True)
class BaselineReport:
    """MediaPipe against DIR-Net on the crops MediaPipe found a hand in.

    found / n: crops with a MediaPipe hand / all crops. mediapipe: its summary on those crops.
    dirnet: DIR-Net's summary per exit policy on the same crops.
    """

    found: int
    n: int
    mediapipe: EvalSummary
    dirnet: dict[str, EvalSummary]

    def to_dict(self) -> dict:
        return {"found": self.found, "n": self.n, "mediapipe": self.mediapipe.to_dict(),
                "dirnet_same_crops": {k: v.to_dict() for k, v in self.dirnet.items()}}


def _nearest_to_centre(hands, res: int):
    centre = np.array([(res - 1) / 2.0] * 2)
    return min(hands, key=lambda h: np.linalg.norm(h.joints2d.mean(axis=0) - centre))


def mediapipe_errors(source: EvalSource) -> tuple[JointErrors, np.ndarray]:
    """MediaPipe Hands (static images, full model, the teacher's padded retry) on every crop of `source`.

    Args:
        source: an EvalSource opened at BASELINE_RES (left hands arrive mirrored, as DIR-Net sees them).
    Returns:
        (N, 21) JointErrors (NaN rows where no hand was found) and the (N,) bool mask of found crops.
    """
    pred2d, pred3d, gt2d, gt3d, scale, found = [], [], [], [], [], []
    with quiet_native_stderr(), MediaPipeTeacher(video=False) as teacher, \
            tqdm(total=len(source), desc=f"{source.name} [MediaPipe]", unit="img", disable=None) as bar:
        for batch in source.batches(32):
            for image, to_source, left in zip(batch.images, batch.to_source, batch.left):
                hands = teacher.label(np.ascontiguousarray(image))
                if hands:
                    hand = _nearest_to_centre(hands, image.shape[0])
                    uv = hand.joints2d @ to_source[:, :2].T + to_source[:, 2]
                    xyz = hand.joints3d.copy()
                    xyz[:, 0] *= -1.0 if left else 1.0  # the crop was mirrored: mirror 3D back out
                else:
                    uv, xyz = np.full((21, 2), np.nan), np.full((21, 3), np.nan)
                pred2d.append(uv)
                pred3d.append(xyz)
                found.append(bool(hands))
            gt2d.append(batch.gt2d)
            gt3d.append(batch.gt3d)
            scale.append(batch.crop256)
            bar.update(len(batch.left))
    errors = joint_errors(np.stack(pred2d), np.concatenate(gt2d), np.stack(pred3d), np.concatenate(gt3d),
                          crop256_scale=np.concatenate(scale))
    return errors, np.asarray(found)


def _rows(errors: JointErrors, mask: np.ndarray) -> JointErrors:
    return JointErrors(*(getattr(errors, k)[mask] for k in ("px", "crop256", "mm", "pa")))


def compare_on_found(mp_errors: JointErrors, found: np.ndarray, dirnet: dict[str, JointErrors]
                     ) -> BaselineReport:
    """Summaries of MediaPipe and of each DIR-Net policy's (N, 21) errors on the crops MediaPipe found."""
    for name, errors in dirnet.items():
        if errors.px.shape[0] != found.shape[0]:
            raise ValueError(f"DIR-Net's {name} errors cover {errors.px.shape[0]} crops, "
                             f"MediaPipe's {found.shape[0]}")
    return BaselineReport(int(found.sum()), int(found.shape[0]), summarize_errors(_rows(mp_errors, found)),
                          {k: summarize_errors(_rows(e, found)) for k, e in dirnet.items()})
