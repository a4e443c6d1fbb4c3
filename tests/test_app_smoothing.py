"""One Euro filter: steady when still, follows motion, restarts cleanly."""
from __future__ import annotations

import numpy as np

from app.smoothing import OneEuroFilter


def _run(filt, signal, fps=30.0):
    return np.array([filt.process(x, i / fps) for i, x in enumerate(signal)])


def test_constant_signal_passes_unchanged():
    out = _run(OneEuroFilter(), np.full((20, 21, 2), 7.5, np.float32))
    np.testing.assert_allclose(out, 7.5, atol=1e-5)


def test_jitter_on_a_still_hand_is_reduced_a_lot():
    rng = np.random.default_rng(0)
    noisy = 100.0 + rng.normal(0, 2.0, size=(300, 21, 2)).astype(np.float32)
    out = _run(OneEuroFilter(min_cutoff=1.0, beta=0.0), noisy)
    assert out[50:].std() < 0.35 * noisy[50:].std()


def test_higher_beta_lags_less_behind_fast_motion():
    ramp = (np.arange(60, dtype=np.float32) * 20.0)[:, None]  # 600 px/s
    lag_slow = ramp[-1] - _run(OneEuroFilter(1.0, beta=0.0), ramp)[-1]
    lag_fast = ramp[-1] - _run(OneEuroFilter(1.0, beta=0.5), ramp)[-1]
    assert 0 <= lag_fast[0] < 0.25 * lag_slow[0]


def test_time_going_backwards_or_a_new_shape_restarts():
    f = OneEuroFilter()
    f.process(np.zeros(3), 1.0)
    f.process(np.zeros(3), 1.1)
    np.testing.assert_array_equal(f.process(np.full(3, 9.0), 0.0), 9.0)  # new source: no smoothing
    np.testing.assert_array_equal(f.process(np.ones(5), 0.1), 1.0)


def test_output_is_a_new_array_not_the_internal_state():
    f = OneEuroFilter()
    a = f.process(np.zeros(2), 0.0)
    a += 5
    np.testing.assert_array_equal(f.process(np.zeros(2), 0.1), 0.0)
