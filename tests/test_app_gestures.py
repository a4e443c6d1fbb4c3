"""Gesture features, store and matcher on poses of the real hand model."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from app.gestures import (GestureCapture, GestureMatcher, GestureStore, STARTER_GESTURES, open_store,
                          pose_features)
from dirnet import DEMO_GESTURES, DemoHand, Estimator
from dirnet.hand import create_hand_model
from dirnet.hand.poses import gesture_angles
from tools.build_gestures import starter_samples

STARTERS = DEMO_GESTURES  # the shipped store holds them in the order the demo shows them


@pytest.fixture(scope="module")
def joints() -> dict[str, np.ndarray]:
    """(21, 3) mm joints of the open hand posed in each starter gesture (exact, not estimated)."""
    model = create_hand_model("open").eval()
    angles = torch.from_numpy(np.stack([gesture_angles(n) for n in STARTERS]))
    with torch.no_grad():
        out = model(torch.eye(3).expand(len(STARTERS), 3, 3), model.angles_to_pose(angles),
                    torch.zeros(len(STARTERS), model.num_shape))
    return dict(zip(STARTERS, out.joints.numpy()))


def _rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_features_ignore_position_scale_rotation_and_mirroring(joints):
    j = joints["point"]
    base = pose_features(j)
    moved = (j * 1.7) @ _rotation(1).T + np.array([40.0, -300.0, 900.0])
    np.testing.assert_allclose(pose_features(moved), base, atol=1e-4)
    np.testing.assert_allclose(pose_features(j * np.array([-1.0, 1.0, 1.0])), base, atol=1e-4)


def test_features_separate_different_gestures(joints):
    feats = {n: pose_features(j) for n, j in joints.items()}
    assert np.abs(feats["fist"] - feats["open_palm"]).max() > 1.0
    assert feats.keys() == set(STARTERS)


def test_shipped_starters_recognise_the_estimators_view_of_the_demo():
    """The starters are the shipped model's own estimates (tools/build_gestures.py); fresh estimates
    of the demo's gestures from other moments and views must match them."""
    store = GestureStore(STARTER_GESTURES.parent / "no-such-user-store.json")
    assert store.names() == list(STARTERS)
    estimator = Estimator.from_pretrained()
    if not estimator.is_trained:
        pytest.skip("starters are built from trained weights")
    matcher = GestureMatcher(store.gestures)
    samples = starter_samples(estimator, DemoHand(), offset=0.05)
    recognised = {name: sum((m := matcher.match(pose_features(j), 0.6)) is not None and m.name == name
                            for j in s) / len(s) for name, s in samples.items()}
    assert all(rate >= 0.7 for rate in recognised.values()), recognised


def test_threshold_rejects_poses_far_from_every_gesture(joints):
    store = GestureStore(STARTER_GESTURES.parent / "no-such-user-store.json")
    matcher = GestureMatcher(store.gestures)
    halfway = pose_features(joints["fist"]) * 0.5 + pose_features(joints["open_palm"]) * 0.5
    assert matcher.match(halfway, threshold=0.6) is None
    assert matcher.match(halfway, threshold=0.0) is not None
    assert GestureMatcher().match(halfway, threshold=0.0) is None


def test_store_add_rename_delete_save_and_reload(tmp_path, joints):
    path = tmp_path / "user" / "gestures.json"
    store = GestureStore(path)  # absent: starts from the starters, writes nothing yet
    assert not path.exists() and "fist" in store.names()
    store.add("wave", np.stack([joints["open_palm"]] * 3))
    store.rename("wave", "hello")
    store.delete("fist")
    with pytest.raises(ValueError, match="taken"):
        store.rename("hello", "point")
    with pytest.raises(ValueError):
        store.add("  ", joints["fist"][None])
    store.save()
    again = GestureStore(path)
    assert again.names() == [n for n in STARTERS if n != "fist"] + ["hello"]
    np.testing.assert_allclose(again.gestures["hello"].samples[1], joints["open_palm"], atol=0.01)
    assert json.loads(path.read_text())["version"] == 1
    assert not list(path.parent.glob("*.tmp"))


def test_a_corrupt_store_is_refused_by_name(tmp_path):
    path = tmp_path / "g.json"
    path.write_text('{"gestures": [{"name": "x"}]}')
    with pytest.raises(ValueError, match="g.json"):
        GestureStore(path)


def test_capture_collects_the_requested_number_of_frames(joints):
    cap = GestureCapture("mine", frames=3)
    assert not cap.add(joints["fist"]) and not cap.add(joints["fist"])
    assert cap.add(joints["fist"]) and cap.done
    cap.add(joints["point"])  # extra frames are ignored
    assert cap.samples.shape == (3, 21, 3)


def test_broken_stores_and_starters_never_stop_the_app(tmp_path):
    good = open_store(tmp_path / "none.json", starters=STARTER_GESTURES)
    assert good[1] is None and "fist" in good[0].gestures
    broken_starters = tmp_path / "starters.json"
    broken_starters.write_text("{not json")
    store, message = open_store(tmp_path / "gestures.json", starters=broken_starters)
    assert store.gestures == {} and store.path == tmp_path / "gestures.recovered.json"
    assert message.startswith(f"{broken_starters} is not a gesture store")
    (tmp_path / "gestures.json").write_text('{"gestures": 3}')
    (tmp_path / "gestures.recovered.json").write_text("[]")
    store, message = open_store(tmp_path / "gestures.json")  # both broken: the starters again
    assert "fist" in store.gestures and store.path == tmp_path / "gestures.recovered-2.json"
    assert "gestures.json is not a gesture store" in message and "recovered.json is not" in message
    store.add("mine", np.zeros((1, 21, 3)))
    store.save()  # edits go to the new file; both broken ones are left for the user
    assert (tmp_path / "gestures.json").read_text() == '{"gestures": 3}'
    again, message = open_store(tmp_path / "gestures.json")  # the next start finds those edits
    assert again.path == tmp_path / "gestures.recovered-2.json" and "mine" in again.gestures
