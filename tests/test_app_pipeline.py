"""The whole per-frame pipeline with the real Estimator and MediaPipe on real frames."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from app.gestures import GestureMatcher, GestureStore, STARTER_GESTURES
from app.model import load_estimator
from app.pipeline import Pipeline, PipelineSettings
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def estimator():
    est, _ = load_estimator(None)
    assert est is not None
    return est


@pytest.fixture(scope="module")
def frames():
    cap = cv2.VideoCapture(str(shared_path("data", "asl_video", "asl_hand.25fps.mp4")))
    out = []
    for _ in range(6):
        ok, bgr = cap.read()
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return out


def test_detects_then_tracks_and_maps_joints_into_frame_pixels(estimator, frames):
    pipe = Pipeline(estimator, PipelineSettings(smoothing=False))
    results = [pipe.process(f, i / 25, i) for i, f in enumerate(frames[:3])]
    assert [r.detected for r in results] == [True, False, False]
    assert all(r.message is None for r in results)
    hand = results[0].hands[0]
    assert hand.handedness == "right" and hand.pose.box == hand.box
    # joints2d: the Estimator's frame-px result for the tracked box, unsmoothed
    again = estimator.estimate(frames[0], ["right"], boxes=[hand.box])[0]
    np.testing.assert_allclose(hand.joints2d, again.joints2d, atol=1e-3)
    np.testing.assert_allclose(hand.var2d, again.var2d, rtol=1e-4)
    assert np.abs(hand.joints2d - [hand.box.cx, hand.box.cy]).max() < hand.box.size  # frame px, by its box
    assert hand.pose.gflops > 0 and results[0].gflops == pytest.approx(hand.pose.gflops)
    assert {"detect", "dirnet", "post", "total"} <= set(results[0].timings)
    pipe.close()


def test_exit_settings_reach_the_estimator(estimator, frames):
    pipe = Pipeline(estimator, PipelineSettings(exit_mode="none", max_loops=3))
    assert pipe.process(frames[0], 0.0, 0).loops == [3]
    pipe.settings = replace(pipe.settings, max_loops=1)
    assert pipe.process(frames[1], 0.04, 1).loops == [1]
    pipe.settings = replace(pipe.settings, exit_mode="variance", tau_var=float("inf"), max_loops=None)
    assert pipe.process(frames[2], 0.08, 2).loops == [1]  # an infinite threshold exits at once
    pipe.close()


def test_smoothing_filters_the_stream_and_reset_forgets_it(estimator, frames):
    raw = Pipeline(estimator, PipelineSettings(smoothing=False))
    smooth = Pipeline(estimator, PipelineSettings(smoothing=True, min_cutoff=0.05, beta=0.0))
    a = [raw.process(f, i / 25, i) for i, f in enumerate(frames[:4])]
    b = [smooth.process(f, i / 25, i) for i, f in enumerate(frames[:4])]
    np.testing.assert_allclose(b[0].hands[0].joints2d, a[0].hands[0].joints2d, atol=1e-3)  # first passes
    step_raw = np.abs(a[3].hands[0].joints3d - a[0].hands[0].joints3d).mean()
    step_smooth = np.abs(b[3].hands[0].joints3d - b[0].hands[0].joints3d).mean()
    assert step_smooth < 0.5 * step_raw
    smooth.reset()
    assert smooth.tracker.tracks == [] and smooth.process(frames[0], 9.0, 0).detected
    raw.close()
    smooth.close()


def test_gesture_capture_and_recognition(estimator, frames):
    matcher = GestureMatcher(GestureStore(STARTER_GESTURES.parent / "absent.json").gestures)
    pipe = Pipeline(estimator, PipelineSettings(gesture_threshold=0.0), matcher)
    pipe.start_capture("mine", frames=2)
    r0 = pipe.process(frames[0], 0.0, 0)
    r1 = pipe.process(frames[1], 0.04, 1)
    assert r0.captured is None and r1.captured[0] == "mine" and r1.captured[1].shape == (2, 21, 3)
    assert r0.hands[0].gesture is not None and r0.hands[0].gesture_changed  # threshold 0: best match
    assert not r1.hands[0].gesture_changed or r1.hands[0].gesture.name != r0.hands[0].gesture.name
    pipe.close()


def test_mediapipe_overlay_comes_from_the_detection_pass_then_one_frame_in_three(estimator, frames):
    shown = Pipeline(estimator, PipelineSettings(show_mediapipe=True, smoothing=False))
    plain = Pipeline(estimator, PipelineSettings(smoothing=False))
    results = [shown.process(f, i / 25, i) for i, f in enumerate(frames)]
    ran = [("detect" in r.timings, "mediapipe" in r.timings) for r in results]
    # frame 0: the detection's landmarks are the overlay (one pass, not two); frame 3: an overlay pass
    assert ran == [(True, False), (False, False), (False, False), (False, True), (False, False), (False, False)]
    assert all(len(r.mediapipe) == 1 for r in results) and results[2].mediapipe is results[0].mediapipe
    assert np.abs(results[3].mediapipe[0] - results[0].mediapipe[0]).max() > 0.5  # a new pass: it moved
    for i, (r, f) in enumerate(zip(results, frames)):  # showing MediaPipe never moves our tracks
        np.testing.assert_allclose(r.hands[0].joints2d, plain.process(f, i / 25, i).hands[0].joints2d, atol=1e-3)
    shown.settings = replace(shown.settings, show_mediapipe=False)
    assert shown.process(frames[0], 1.0, 6).mediapipe is None and results[0].mediapipe is not None
    shown.close()
    plain.close()


def test_no_hand_and_no_estimator_give_empty_results(frames):
    pipe = Pipeline(None, PipelineSettings(show_mediapipe=True))
    result = pipe.process(frames[0], 0.0, 0)
    assert result.hands == [] and len(result.mediapipe) == 1 and result.mediapipe[0].shape == (21, 2)
    blank = pipe.process(np.zeros_like(frames[0]), 0.04, 1)
    assert blank.hands == [] and blank.message is None
    pipe.close()
