"""Hand pose accuracy metrics: per-joint errors, PCK/AUC, MPJPE, PA-MPJPE and one summary dataclass.

Pure numpy. Conventions:
- 2D errors are Euclidean distances in pixels of whatever image both inputs are in.
- 3D errors are Euclidean distances in millimetres between wrist-relative joints (both sets have
  their wrist, joint 0, moved to the origin first), unless Procrustes alignment is asked for. The
  wrist stays among the 21 joints with its zero error, as in Zimmermann & Brox's STB evaluation.
- A joint that is missing from the labels (a False mask entry or a non-finite coordinate) gets a
  NaN error; every statistic ignores NaNs, so partially labelled samples still count.
- PCK is pooled over all labelled (sample, joint) pairs. AUC follows FreiHAND's evaluation code:
  PCK at `steps` thresholds evenly spaced from lo to hi inclusive (np.linspace), integrated with
  the trapezoid rule and divided by hi - lo. The default 100 steps give a step of (hi - lo) / 99:
  0.505 mm for FPHA's 0-50 mm range and 0.303 mm for STB's 20-50 mm range.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..geometry import procrustes_align

__all__ = [
    "AUC_STEPS", "STB_RANGE", "FPHA_RANGE", "joint_errors_2d", "joint_errors_3d", "root_relative",
    "pa_joint_errors", "mpjpe", "pa_mpjpe", "pck", "pck_curve", "auc", "EvalSummary", "JointErrors",
    "joint_errors", "summarize_errors", "summarize",
]

AUC_STEPS = 100  # thresholds per PCK curve, as FreiHAND's and DexYCB's evaluators
STB_RANGE = (20.0, 50.0)  # mm (and px for 2D): the STB convention, paper Tables 1-2
FPHA_RANGE = (0.0, 50.0)  # mm (and px for 2D): the FPHA convention, also FreiHAND's


def _check_pair(pred: np.ndarray, gt: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim < 2 or pred.shape[-1] != dims:
        raise ValueError(f"pred and gt must both be (..., J, {dims}), got {pred.shape} and {gt.shape}")
    return pred, gt


def _apply_mask(errors: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if mask is None:
        return errors
    mask = np.broadcast_to(np.asarray(mask, dtype=bool), errors.shape)
    return np.where(mask, errors, np.nan)


def joint_errors_2d(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-joint 2D Euclidean error.

    Args:
        pred, gt: (..., J, 2) pixels of the same image.
        mask: bool, broadcastable to (..., J): False marks an unlabelled joint.
    Returns:
        (..., J) float64 px; NaN where unlabelled or gt is not finite.
    Raises:
        ValueError: mismatching shapes.
    """
    pred, gt = _check_pair(pred, gt, 2)
    return _apply_mask(np.linalg.norm(pred - gt, axis=-1), mask)


def root_relative(joints: np.ndarray, root: int = 0) -> np.ndarray:
    """Joints with joint `root` (the wrist by default) moved to the origin. (..., J, D) -> same."""
    joints = np.asarray(joints, dtype=np.float64)
    return joints - joints[..., root:root + 1, :]


def joint_errors_3d(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None,
                    align: str = "root") -> np.ndarray:
    """Per-joint 3D Euclidean error.

    Args:
        pred, gt: (..., J, 3) millimetres, same axes.
        mask: bool, broadcastable to (..., J): False marks an unlabelled joint.
        align: "root" subtracts each set's wrist (joint 0) first (MPJPE's convention); "procrustes"
            aligns pred to gt by the best similarity transform (PA-MPJPE, FreiHAND); "none" compares
            the raw coordinates.
    Returns:
        (..., J) float64 mm; NaN where unlabelled or not finite.
    Raises:
        ValueError: mismatching shapes or unknown `align`.
    """
    pred, gt = _check_pair(pred, gt, 3)
    if align == "root":
        pred, gt = root_relative(pred), root_relative(gt)
    elif align == "procrustes":
        return pa_joint_errors(pred, gt, mask)
    elif align != "none":
        raise ValueError(f"align must be 'root', 'procrustes' or 'none', got {align!r}")
    return _apply_mask(np.linalg.norm(pred - gt, axis=-1), mask)


def pa_joint_errors(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-joint error after Procrustes alignment (scale, rotation, translation) of pred onto gt.

    FreiHAND's procedure: the similarity transform is fitted on all labelled joints of a sample and
    applied to its prediction. A sample with fewer than 3 labelled joints gets NaN errors.

    Args:
        pred, gt: (N, J, 3) or (J, 3) millimetres.
        mask: bool, broadcastable to (N, J) / (J,): joints used for the fit and the errors.
    Returns:
        (N, J) or (J,) float64 mm.
    """
    pred, gt = _check_pair(pred, gt, 3)
    single = pred.ndim == 2
    if single:
        pred, gt = pred[None], gt[None]
    valid = np.isfinite(gt).all(-1) & np.isfinite(pred).all(-1)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        valid &= np.broadcast_to(mask[None] if single else mask, valid.shape)
    errors = np.full(valid.shape, np.nan)
    full = valid.all(-1)
    if full.any():  # the common case, vectorised
        aligned = procrustes_align(pred[full], gt[full])
        errors[full] = np.linalg.norm(aligned - gt[full], axis=-1)
    for i in np.flatnonzero(~full & (valid.sum(-1) >= 3)):
        v = valid[i]
        aligned = procrustes_align(pred[i, v], gt[i, v])
        errors[i, v] = np.linalg.norm(aligned - gt[i, v], axis=-1)
    return errors[0] if single else errors


def _nanmean(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    finite = x[np.isfinite(x)]
    return float(finite.mean()) if finite.size else float("nan")


def _nanmedian(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    finite = x[np.isfinite(x)]
    return float(np.median(finite)) if finite.size else float("nan")


def mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean per-joint position error (mm) of wrist-relative joints over all labelled joints.

    Args:
        pred, gt: (N, J, 3) millimetres.
        mask: optional (N, J) bool.
    """
    return _nanmean(joint_errors_3d(pred, gt, mask, align="root"))


def pa_mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean per-joint error (mm) after per-sample Procrustes alignment (FreiHAND's PA-MPJPE).

    Args:
        pred, gt: (N, J, 3) millimetres.
        mask: optional (N, J) bool.
    """
    return _nanmean(pa_joint_errors(pred, gt, mask))


def pck(errors: np.ndarray, threshold: float) -> float:
    """Fraction of labelled joints whose error is <= threshold (NaN entries are ignored).

    Args:
        errors: any shape, px or mm.
        threshold: same unit.
    Returns:
        PCK in [0, 1]; NaN when nothing is labelled.
    """
    e = np.asarray(errors, dtype=np.float64)
    e = e[np.isfinite(e)]
    return float((e <= threshold).mean()) if e.size else float("nan")


def pck_curve(errors: np.ndarray, lo: float, hi: float, steps: int = AUC_STEPS
              ) -> tuple[np.ndarray, np.ndarray]:
    """PCK at `steps` thresholds np.linspace(lo, hi, steps).

    Returns:
        (thresholds (steps,), pck (steps,)); pck is all NaN when nothing is labelled.
    Raises:
        ValueError: hi <= lo or steps < 2.
    """
    if not hi > lo or steps < 2:
        raise ValueError(f"need hi > lo and steps >= 2, got lo={lo}, hi={hi}, steps={steps}")
    thresholds = np.linspace(lo, hi, steps)
    e = np.asarray(errors, dtype=np.float64)
    e = np.sort(e[np.isfinite(e)])
    if not e.size:
        return thresholds, np.full(steps, np.nan)
    return thresholds, np.searchsorted(e, thresholds, side="right") / e.size


def auc(errors: np.ndarray, lo: float, hi: float, steps: int = AUC_STEPS) -> float:
    """Normalised area under the PCK curve between lo and hi (in [0, 1]; NaN if nothing labelled)."""
    thresholds, values = pck_curve(errors, lo, hi, steps)
    area = ((values[1:] + values[:-1]) / 2 * np.diff(thresholds)).sum()  # trapezoid rule
    return float(area / (hi - lo))


@dataclass(frozen=True)
class EvalSummary:
    """Accuracy and cost of one model setting on one data set.

    2D errors: `err2d_px_*` in px of the source image (crop px, or frame px for videos); every other
    2D figure is in px of the crop the network saw rescaled to 256 px ("crop-256 px"), so sources of
    different resolutions compare. 3D errors in mm of wrist-relative joints; PA-MPJPE after per-sample
    Procrustes alignment. AUCs: `*_0_50` over 0-50 (FPHA/FreiHAND), `*_20_50` over 20-50 (STB).
    Costs: mean refiner passes and mean GFLOPs per sample (NaN when not given).
    """

    n: int
    n2d: int
    n3d: int
    err2d_px_mean: float
    err2d_px_median: float
    err2d_mean: float
    err2d_median: float
    auc2d_0_50: float
    auc2d_20_50: float
    mpjpe: float
    mpjpe_median: float
    auc3d_0_50: float
    auc3d_20_50: float
    pa_mpjpe: float
    pa_mpjpe_median: float
    pa_auc3d_0_50: float
    mean_loops: float
    mean_gflops: float

    def to_dict(self) -> dict:
        """Plain-float dict (JSON-ready; NaN stays NaN)."""
        return asdict(self)


@dataclass(frozen=True)
class JointErrors:
    """Per-joint errors of a set of predictions (NaN where unlabelled), all of one shape (..., N, 21).

    px: 2D error in source-image px. crop256: the same in crop-256 px. mm: 3D error of
    wrist-relative joints. pa: 3D error after per-sample Procrustes alignment.
    """

    px: np.ndarray
    crop256: np.ndarray
    mm: np.ndarray
    pa: np.ndarray

    def take(self, index: np.ndarray) -> "JointErrors":
        """Pick one entry of the leading axis per sample: (K, N, 21) errors, (N,) index -> (N, 21).

        Used to read each sample's errors at the loop its exit policy stopped at.
        """
        rows = np.arange(self.px.shape[1])
        return JointErrors(*(getattr(self, k)[index, rows] for k in ("px", "crop256", "mm", "pa")))


def joint_errors(pred2d: np.ndarray | None, gt2d: np.ndarray | None, pred3d: np.ndarray | None,
                 gt3d: np.ndarray | None, *, mask2d: np.ndarray | None = None,
                 mask3d: np.ndarray | None = None, crop256_scale: np.ndarray | float = 1.0
                 ) -> JointErrors:
    """All per-joint errors of N samples (the first stage of `summarize`).

    Args:
        pred2d, gt2d: (N, 21, 2) px of the source image, or None when there are no 2D labels.
        pred3d, gt3d: (N, 21, 3) mm, camera axes (made wrist-relative here), or None.
        mask2d, mask3d: (N,) or (N, 21) bool labels present (default: wherever gt is finite).
        crop256_scale: (N,) or scalar factor turning source px into crop-256 px
            (256 / side of the network's crop in source px).
    Returns:
        JointErrors of shape (N, 21).
    Raises:
        ValueError: mismatching shapes.
    """
    sizes = {np.shape(x)[0] for x in (pred2d, pred3d) if x is not None}
    if len(sizes) > 1:
        raise ValueError(f"2D and 3D inputs disagree on the sample count: {sorted(sizes)}")
    n = sizes.pop() if sizes else 0

    def labelled(mask, gt):
        rows = np.isfinite(gt).all(-1)
        if mask is None:
            return rows
        mask = np.asarray(mask, dtype=bool)
        return rows & (mask if mask.ndim == 2 else mask[:, None])

    e2d = e2d_256 = e3d = epa = np.full((n, 21), np.nan)
    if pred2d is not None and gt2d is not None:
        gt2d = np.asarray(gt2d, dtype=np.float64)
        e2d = joint_errors_2d(pred2d, gt2d, labelled(mask2d, gt2d))
        scale = np.broadcast_to(np.asarray(crop256_scale, dtype=np.float64), (n,))
        e2d_256 = e2d * scale[:, None]
    if pred3d is not None and gt3d is not None:
        gt3d = np.asarray(gt3d, dtype=np.float64)
        valid = labelled(mask3d, gt3d)
        # MPJPE needs the wrist itself labelled, or nothing is wrist-relative.
        e3d = joint_errors_3d(pred3d, gt3d, valid & valid[:, :1], align="root")
        epa = pa_joint_errors(pred3d, gt3d, valid)
    return JointErrors(e2d, e2d_256, e3d, epa)


def summarize_errors(errors: JointErrors, loops: np.ndarray | None = None,
                     gflops: np.ndarray | None = None) -> EvalSummary:
    """EvalSummary from (N, 21) JointErrors and optional (N,) loop counts and GFLOPs."""
    nan = float("nan")
    e = errors
    return EvalSummary(
        n=int(e.px.shape[0]), n2d=int(np.isfinite(e.px).any(-1).sum()),
        n3d=int((np.isfinite(e.mm).any(-1) | np.isfinite(e.pa).any(-1)).sum()),
        err2d_px_mean=_nanmean(e.px), err2d_px_median=_nanmedian(e.px),
        err2d_mean=_nanmean(e.crop256), err2d_median=_nanmedian(e.crop256),
        auc2d_0_50=auc(e.crop256, *FPHA_RANGE), auc2d_20_50=auc(e.crop256, *STB_RANGE),
        mpjpe=_nanmean(e.mm), mpjpe_median=_nanmedian(e.mm),
        auc3d_0_50=auc(e.mm, *FPHA_RANGE), auc3d_20_50=auc(e.mm, *STB_RANGE),
        pa_mpjpe=_nanmean(e.pa), pa_mpjpe_median=_nanmedian(e.pa), pa_auc3d_0_50=auc(e.pa, *FPHA_RANGE),
        mean_loops=_nanmean(loops) if loops is not None else nan,
        mean_gflops=_nanmean(gflops) if gflops is not None else nan)


def summarize(pred2d: np.ndarray | None = None, gt2d: np.ndarray | None = None,
              pred3d: np.ndarray | None = None, gt3d: np.ndarray | None = None, *,
              mask2d: np.ndarray | None = None, mask3d: np.ndarray | None = None,
              crop256_scale: np.ndarray | float = 1.0, loops: np.ndarray | None = None,
              gflops: np.ndarray | None = None) -> EvalSummary:
    """All metrics of one evaluation: `summarize_errors(joint_errors(...), loops, gflops)`.

    Args:
        pred2d, gt2d, pred3d, gt3d, mask2d, mask3d, crop256_scale: as for `joint_errors`.
        loops: (N,) refiner passes each sample ran. gflops: (N,) GFLOPs each sample cost.
    Returns:
        The EvalSummary.
    Raises:
        ValueError: mismatching shapes.
    """
    errors = joint_errors(pred2d, gt2d, pred3d, gt3d, mask2d=mask2d, mask3d=mask3d,
                          crop256_scale=crop256_scale)
    return summarize_errors(errors, loops, gflops)
