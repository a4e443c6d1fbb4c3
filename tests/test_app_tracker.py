"""Tracker: when to detect, following the hand, losing it, and replacing drifted tracks."""
from __future__ import annotations

import numpy as np
import pytest

from app.detector import Detection
from app.tracker import HandTracker
from dirnet.crop import box_from_points

FRAME = (640, 480)


def _hand_points(cx, cy, size=100.0):
    rng = np.random.default_rng(int(cx * 7 + cy))
    return (rng.uniform(-0.5, 0.5, (21, 2)) * size + [cx, cy]).astype(np.float32)


def _det(cx, cy, hand="right"):
    pts = _hand_points(cx, cy)
    return Detection(hand, pts, 0.9, box_from_points(pts))


def test_detects_when_empty_and_periodically_after():
    tr = HandTracker(redetect_every=3)
    assert tr.needs_detection()
    tr.add_detections([_det(200, 200)])
    checks = []
    for _ in range(4):
        checks.append(tr.needs_detection())
        tr.step()
    assert checks == [False, False, False, True]
    never = HandTracker(redetect_every=0)
    never.add_detections([_det(200, 200)])
    for _ in range(50):
        never.step()
    assert not never.needs_detection()


def test_track_follows_the_joints_and_keeps_its_id():
    tr = HandTracker(max_shift=1.0)
    tr.add_detections([_det(200, 200)])
    track = tr.tracks[0]
    pts = _hand_points(230, 190)
    assert tr.update(track, pts, np.full((21, 2), 4.0), FRAME)
    expected = box_from_points(pts)
    assert (track.box.cx, track.box.cy) == (expected.cx, expected.cy)
    assert tr.tracks[0].id == track.id and track.age == 1


def test_box_centre_moves_at_most_a_fifth_of_its_side_per_frame():
    tr = HandTracker(max_shift=0.2)
    tr.add_detections([_det(300, 240)])
    track = tr.tracks[0]
    start, size = (track.box.cx, track.box.cy), track.box.size
    tr.update(track, _hand_points(300, 40), np.ones((21, 2)), FRAME)  # joints far above
    assert np.hypot(track.box.cx - start[0], track.box.cy - start[1]) == pytest.approx(0.2 * size)
    assert track.box.cy < start[1]


def test_box_size_changes_are_limited_per_frame():
    tr = HandTracker(max_step=1.25)
    tr.add_detections([_det(300, 240)])
    track = tr.tracks[0]
    before = track.box.size
    tr.update(track, _hand_points(300, 240, size=400), np.ones((21, 2)), FRAME)
    assert track.box.size == before * 1.25


def test_lost_when_leaving_the_frame_uncertain_or_collapsing():
    for pts, var in [(_hand_points(700, 200), np.ones((21, 2))),          # centre left the frame
                     (_hand_points(300, 200), np.full((21, 2), 900.0)),  # sigma 30 px > 0.12 * box
                     (_hand_points(300, 200, size=1.0), np.ones((21, 2)))]:  # shrinks below min_size
        tr = HandTracker(max_step=100.0, max_shrink=100.0)
        tr.add_detections([_det(300, 200)])
        assert not tr.update(tr.tracks[0], pts, var, FRAME)
        assert tr.tracks == [] and tr.needs_detection()


def test_detection_on_a_track_refreshes_it_and_a_second_hand_is_added():
    tr = HandTracker(max_hands=2)
    tr.add_detections([_det(200, 200, "right")])
    first_id = tr.tracks[0].id
    tr.add_detections([_det(210, 205, "left"), _det(450, 220, "left")])
    assert [t.id for t in tr.tracks] == [first_id, first_id + 1]
    assert tr.tracks[0].handedness == "left" and round(tr.tracks[0].box.cx) == round(_det(210, 205).box.cx)
    seen = tr.tracks[1].id
    tr.add_detections([_det(100, 100), _det(450, 220)])  # one new hand replaces the nearest unseen track
    ids = [t.id for t in tr.tracks]
    assert len(ids) == 2 and seen in ids and first_id not in ids


def test_a_drifted_track_is_replaced_but_a_missed_one_is_kept():
    tr = HandTracker(max_hands=2)
    tr.add_detections([_det(200, 200)])
    tr.add_detections([])  # detector missed the hand: keep following it
    assert len(tr.tracks) == 1
    drifted = tr.tracks[0].id
    tr.add_detections([_det(450, 300)])  # hand seen elsewhere, our track covers nothing seen
    assert len(tr.tracks) == 1 and tr.tracks[0].id != drifted


def test_box_shrinks_slowly_but_grows_fast():
    tr = HandTracker(max_step=1.25, max_shrink=1.03)
    tr.add_detections([_det(300, 200)])
    track = tr.tracks[0]
    start = track.box.size
    assert tr.update(track, _hand_points(300, 200, size=40.0), np.ones((21, 2)), FRAME)
    assert track.box.size == pytest.approx(start / 1.03)  # contracted joints: a small step down
    assert tr.update(track, _hand_points(300, 200, size=400.0), np.ones((21, 2)), FRAME)
    assert track.box.size == pytest.approx(start / 1.03 * 1.25)
