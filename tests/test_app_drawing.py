"""Overlay drawing and the per-loop uncertainty heatmaps (Fig. 4)."""
from __future__ import annotations

import numpy as np

from app.drawing import DrawingSpec, annotate, heatmap_images, loop_heatmaps
from app.pipeline import FrameResult
from dirnet import Box, HandPose, LoopTrace
from tests.conftest import make_hand


def _pose(var_per_loop):
    """Joints at crop px (30, 40) and (90, 20) of a 128 px crop of a 256 px box, in frame px."""
    j2 = (np.array([[30.0, 40.0]] * 20 + [[90.0, 20.0]]) * 2 + [100.5, 50.5]).astype(np.float32)
    trace = tuple(LoopTrace(j2, np.zeros((21, 3), np.float32), np.full((21, 2), v, np.float32),
                            np.ones((21, 3), np.float32), 0.5) for v in var_per_loop)
    return HandPose("right", j2, np.zeros((21, 3), np.float32), np.zeros((3, 3), np.float32),
                    np.zeros((1, 3), np.int32), trace[-1].var2d, np.ones((21, 3), np.float32),
                    len(trace), 0.3, trace, Box(227.5, 177.5, 256.0))


def test_heatmaps_peak_at_the_joints_and_sharpen_as_variance_drops():
    pose = _pose([256.0, 64.0, 16.0])
    maps = loop_heatmaps(pose, res=64)
    assert maps.shape == (3, 64, 64) and maps.max() == 1.0 and maps.min() >= 0
    peak = np.unravel_index(maps[2].argmax(), maps[2].shape)
    assert abs(peak[0] - 20) <= 1 and abs(peak[1] - 15) <= 1  # (40, 30) crop px at half scale
    assert maps[0].max() < maps[1].max() < maps[2].max()  # shared normalisation: later = sharper
    frame = np.zeros((400, 500, 3), np.uint8)
    frame[50:306, 100:356] = 200  # the box's region is bright, the rest dark
    images = heatmap_images(frame, pose.box, maps)
    assert len(images) == 3 and images[0].shape == (64, 64, 3) and images[0].dtype == np.uint8
    inner = (slice(2, -2), slice(2, -2))  # the outermost pixels blend with the frame beyond the box
    cold = maps[2][inner] < 1e-6  # no heat drawn there
    assert np.abs(images[2][inner][cold].astype(int) - int(200 * 0.45)).max() <= 1  # the box's region, dimmed


def test_annotation_draws_the_hand_and_mirrors_on_request():
    rng = np.random.default_rng(0)
    frame = np.zeros((240, 320, 3), np.uint8)
    result = FrameResult(0, 0.0, frame, hands=[make_hand(rng)])
    out = annotate(result)
    assert out is not frame and frame.max() == 0  # the captured frame is never drawn on
    x, y = np.round(result.hands[0].joints2d[0]).astype(int)
    assert out[y, x].max() > 0 and (out.sum(-1) > 0).mean() > 0.02
    buffer = np.empty_like(frame)
    assert annotate(result, buffer) is buffer
    mirrored = annotate(result, mirror=True)
    assert mirrored[y, 319 - x].max() > 0
    # the label is drawn after mirroring, so it reads left to right: compare without it
    np.testing.assert_array_equal((mirrored[150:, ::-1] > 0), (out[150:] > 0))


def test_mediapipe_landmarks_are_magenta_dashes_and_rings_far_from_our_colours_with_a_legend(clip_frame):
    frame, reference = clip_frame  # the ASL clip's first frame and MediaPipe's landmarks for it
    spec = DrawingSpec()
    without = annotate(FrameResult(0, 0.0, frame))
    shown = annotate(FrameResult(0, 0.0, frame, mediapipe=[reference.astype(np.float32)]))
    magenta = np.all(shown == spec.mediapipe_color, axis=-1)
    x, y = np.round(reference[12]).astype(int)  # middle fingertip: a ring with a black centre
    ring = magenta[y - 12:y + 13, x - 12:x + 13]
    assert ring.any() and not magenta[y, x] and shown[y, x].max() < 60
    # no finger of ours (nor the palm) is drawn near MediaPipe's colour (the old cyan was 63 from our
    # ring finger's light blue)
    ours = np.array([*spec.finger_colors, spec.palm_color], float)
    assert np.linalg.norm(ours - spec.mediapipe_color, axis=1).min() > 120
    # the legend (bottom left) names both while the comparison is on, also when MediaPipe found none
    corner = (slice(-90, None), slice(0, 300))
    legend = np.all(shown[corner] == spec.label_color, axis=-1).mean()
    assert legend > 0.3 and np.array_equal(without[corner], frame[corner])
    assert magenta[corner].any()  # its MediaPipe sample
    none_found = annotate(FrameResult(0, 0.0, frame, mediapipe=[]))
    assert np.all(none_found[corner] == spec.label_color, axis=-1).mean() > 0.3
    assert not np.array_equal(none_found[corner], shown[corner])  # it says so
