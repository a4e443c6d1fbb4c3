"""dirnet.evaluation.metrics against hand-computed values."""
import numpy as np
import pytest

from dirnet.evaluation.metrics import (FPHA_RANGE, STB_RANGE, auc, joint_errors_2d, joint_errors_3d, mpjpe,
                            pa_joint_errors, pa_mpjpe, pck, pck_curve, summarize)


def _hands(n=4, seed=0):
    """Random 3D 'hands' (n, 21, 3) mm with the wrist at the origin."""
    rng = np.random.default_rng(seed)
    joints = rng.normal(0, 40, (n, 21, 3))
    joints[:, 0] = 0
    return joints


def _rotation(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def test_2d_errors_are_euclidean_and_masked():
    gt = np.zeros((2, 21, 2))
    pred = gt + [3.0, 4.0]
    err = joint_errors_2d(pred, gt, mask=np.array([True, False])[:, None])
    assert np.allclose(err[0], 5.0)
    assert np.isnan(err[1]).all()


def test_3d_root_alignment_ignores_translation_but_not_scale():
    gt = _hands()
    assert mpjpe(gt + [10.0, -5.0, 300.0], gt) == pytest.approx(0.0, abs=1e-9)
    # Twice the size: each joint is off by its own distance from the wrist.
    expected = np.linalg.norm(gt, axis=-1).mean()
    assert mpjpe(2 * gt, gt) == pytest.approx(expected)
    raw = joint_errors_3d(gt + 1.0, gt, align="none")
    assert np.allclose(raw, np.sqrt(3.0))


def test_pa_mpjpe_is_zero_for_similar_copy_and_positive_for_mirror():
    gt = _hands()
    rot = _rotation([1, 2, 3], 0.7)
    pred = 1.3 * gt @ rot.T + [50.0, 20.0, 400.0]
    assert pa_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-6)
    assert mpjpe(pred, gt) > 10.0
    # A mirror image is not a rotation: Procrustes must not undo it.
    mirrored = gt * [-1.0, 1.0, 1.0]
    assert pa_mpjpe(mirrored, gt) > 5.0


def test_pa_uses_only_labelled_joints():
    gt = _hands(1)
    pred = 0.8 * gt @ _rotation([0, 0, 1], 0.4).T
    pred[0, 7] += [30.0, 0.0, 0.0]  # a wrong joint ...
    mask = np.ones((1, 21), bool)
    mask[0, 7] = False  # ... that is unlabelled
    err = pa_joint_errors(pred, gt, mask)
    assert np.isnan(err[0, 7])
    assert np.nanmax(err) == pytest.approx(0.0, abs=1e-6)
    single = pa_joint_errors(pred[0], gt[0], mask[0])
    assert np.allclose(single, err[0], equal_nan=True)


def test_pck_of_known_errors():
    errors = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    assert pck(errors, 2.5) == 0.5
    assert pck(errors, 4.0) == 1.0
    assert pck(errors, 0.5) == 0.0
    t, values = pck_curve(errors, 0.0, 4.0, steps=5)
    assert np.allclose(t, [0, 1, 2, 3, 4])
    assert np.allclose(values, [0, 0.25, 0.5, 0.75, 1.0])


def test_auc_of_step_functions():
    assert auc(np.zeros(10), *FPHA_RANGE) == pytest.approx(1.0)
    assert auc(np.full(10, 60.0), *FPHA_RANGE) == pytest.approx(0.0)
    # A step at the middle of the range: half the area (thresholds straddle 25 symmetrically).
    assert auc(np.full(10, 25.0), *FPHA_RANGE) == pytest.approx(0.5)
    assert auc(np.full(10, 35.0), *STB_RANGE) == pytest.approx(0.5)
    # Errors below the STB range count fully there.
    assert auc(np.full(10, 10.0), *STB_RANGE) == pytest.approx(1.0)
    # Half the joints perfect, half far off.
    assert auc(np.r_[np.zeros(5), np.full(5, 99.0)], *FPHA_RANGE) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        pck_curve(np.zeros(3), 5.0, 5.0)


def test_summarize_combines_everything():
    gt3d = _hands(3)
    pred3d = gt3d + [0.0, 0.0, 10.0]
    pred3d[:, 1:, 2] += 6.0  # every non-wrist joint 6 mm deeper than the wrist's offset
    gt2d = np.zeros((3, 21, 2))
    pred2d = gt2d + [6.0, 8.0]  # 10 px in the source image
    s = summarize(pred2d, gt2d, pred3d, gt3d, crop256_scale=np.array([1.0, 2.0, 3.0]),
                  loops=np.array([1, 2, 3]), gflops=np.array([0.1, 0.2, 0.3]))
    assert (s.n, s.n2d, s.n3d) == (3, 3, 3)
    assert s.err2d_px_mean == pytest.approx(10.0)
    assert s.err2d_mean == pytest.approx(20.0)  # (10 + 20 + 30) / 3 in crop-256 px
    assert s.mpjpe == pytest.approx(6.0 * 20 / 21)
    assert s.pa_mpjpe < s.mpjpe
    assert s.auc3d_20_50 == pytest.approx(1.0)
    assert s.mean_loops == pytest.approx(2.0) and s.mean_gflops == pytest.approx(0.2)
    assert set(s.to_dict()) >= {"pa_mpjpe", "auc3d_0_50", "mean_gflops"}


def test_summarize_2d_only_and_masks():
    gt2d = np.zeros((2, 21, 2))
    gt2d[1] = np.nan  # second sample unlabelled
    s = summarize(gt2d + [0.0, 2.0], gt2d)
    assert (s.n, s.n2d, s.n3d) == (2, 1, 0)
    assert s.err2d_px_mean == pytest.approx(2.0)
    assert np.isnan(s.mpjpe) and np.isnan(s.mean_loops)
    with pytest.raises(ValueError):
        summarize(np.zeros((2, 21, 2)), np.zeros((2, 21, 2)), np.zeros((3, 21, 3)), np.zeros((3, 21, 3)))
