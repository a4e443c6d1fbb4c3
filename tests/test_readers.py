"""Each dataset reader on a tiny fixture written here in that dataset's own on-disk format."""
from __future__ import annotations

import json
import pickle

import cv2
import numpy as np
import pytest
import scipy.io

from dirnet.data.readers import (HandSample, project, read_fpha, read_freihand, read_panoptic,
                                 read_rhd, read_samples, read_stb, read_teacher_index)
from dirnet.data.readers.fpha import FPHA_EXTRINSICS, FPHA_TO_OURS
from dirnet.data.readers.rhd import RHD_TO_OURS
from dirnet.data.readers.stb import STB_SK_K, STB_SK_ROTATION, STB_SK_TRANSLATION, STB_TO_OURS
from dirnet.hand.skeleton import PARENTS

K = np.array([[500.0, 0.0, 112.0], [0.0, 510.0, 108.0], [0.0, 0.0, 1.0]])


def _hand(rng: np.random.Generator, depth_mm: float = 600.0) -> np.ndarray:
    """(21, 3) mm, a plausible right hand in front of the camera, our joint order."""
    joints = np.zeros((21, 3))
    joints[0] = [rng.uniform(-40, 40), rng.uniform(-40, 40), depth_mm]
    for j in range(1, 21):
        step = np.array([(j - 10) * 1.5, -25.0, 0.0]) + rng.normal(0, 4, 3)
        joints[j] = joints[PARENTS[j]] + step
    return joints


def _unorder(joints: np.ndarray, table: tuple[int, ...]) -> np.ndarray:
    """Our order -> the dataset's order (inverse of the reader's table)."""
    out = np.empty_like(joints)
    out[..., list(table), :] = joints
    return out


def _write_image(path, size=(64, 64)):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((*size, 3), np.uint8))


def test_freihand_reads_metres_and_projects_with_k(tmp_path):
    rng = np.random.default_rng(0)
    hands = [_hand(rng) for _ in range(3)]
    (tmp_path / "training_xyz.json").write_text(json.dumps([(h / 1000).tolist() for h in hands]))
    (tmp_path / "training_K.json").write_text(json.dumps([K.tolist()] * 3))

    samples = list(read_freihand(tmp_path, versions=("gs", "auto")))

    assert len(samples) == 6
    assert samples[4].image_path == tmp_path / "training" / "rgb" / f"{3 * 3 + 1:08d}.jpg"
    np.testing.assert_allclose(samples[4].joints3d, hands[1], atol=1e-3)
    np.testing.assert_allclose(samples[4].joints2d, project(hands[1], K), atol=1e-3)
    assert {s.handedness for s in samples} == {"right"}
    with pytest.raises(ValueError, match="versions"):
        list(read_freihand(tmp_path, versions=("bogus",)))


def test_stb_converts_depth_frame_order_and_palm(tmp_path):
    rng = np.random.default_rng(1)
    ours = np.stack([_hand(rng, 450.0) for _ in range(4)])  # colour camera frame, our order
    stb = _unorder(ours, STB_TO_OURS)
    stb[:, 0] = (ours[:, 0] + ours[:, 13]) / 2.0  # STB stores the palm centre, not the wrist
    depth = stb @ STB_SK_ROTATION.T + STB_SK_TRANSLATION  # X_depth = R X_color + T
    (tmp_path / "labels").mkdir()
    for sequence in ("B1Counting", "B1Random"):
        scipy.io.savemat(tmp_path / "labels" / f"{sequence}_SK.mat",
                         {"handPara": np.transpose(depth, (2, 1, 0))})

    samples = list(read_stb(tmp_path, split="test"))

    assert len(samples) == 8
    assert samples[5].image_path == tmp_path / "B1Random" / "SK_color_1.png"
    np.testing.assert_allclose(samples[5].joints3d, ours[1], atol=1e-3)
    np.testing.assert_allclose(samples[5].joints2d, project(ours[1], STB_SK_K), atol=1e-3)
    assert samples[0].handedness == "left"
    with pytest.raises(FileNotFoundError, match="B2Counting_SK.mat"):
        list(read_stb(tmp_path, split="train"))


def _rhd_annotation(rng):
    left, right = _hand(rng), _hand(rng)
    xyz = np.concatenate([_unorder(left, RHD_TO_OURS), _unorder(right, RHD_TO_OURS)]) / 1000
    uv = project(xyz, K)
    visible = np.zeros(42)
    visible[21:] = 1  # only the right hand is in view
    visible[21 + 5] = 0  # RHD's index tip of the right hand is hidden
    anno = {"xyz": xyz.astype(np.float32), "K": K.astype(np.float32),
            "uv_vis": np.concatenate([uv, visible[:, None]], 1).astype(np.float32)}
    return anno, right


def test_rhd_reorders_tip_first_fingers_and_uses_visibility(tmp_path):
    anno, right = _rhd_annotation(np.random.default_rng(2))
    folder = tmp_path / "training"
    folder.mkdir()
    with open(folder / "anno_training.pickle", "wb") as file:
        pickle.dump({0: anno, 7: anno}, file, protocol=2)

    samples = list(read_rhd(tmp_path))

    assert [s.image_path.name for s in samples] == ["00000.png", "00007.png"]
    sample = samples[0]
    assert sample.handedness == "right"
    np.testing.assert_allclose(sample.joints3d, right, atol=1e-2)
    np.testing.assert_allclose(sample.joints2d, project(sample.joints3d, sample.K), atol=1e-2)
    assert sample.visibility.sum() == 20 and not sample.visibility[8]  # our index tip


def test_rhd_refuses_a_pickle_that_would_run_code(tmp_path):
    folder = tmp_path / "training"
    folder.mkdir()

    class Exploit:
        def __reduce__(self):
            return (print, ("owned",))

    (folder / "anno_training.pickle").write_bytes(pickle.dumps({0: Exploit()}))
    with pytest.raises(pickle.UnpicklingError, match="builtins.print"):
        list(read_rhd(tmp_path))


def test_fpha_applies_extrinsics_and_reorders(tmp_path):
    rng = np.random.default_rng(3)
    ours = np.stack([_hand(rng, 400.0) for _ in range(3)])  # colour camera frame
    rotation, translation = FPHA_EXTRINSICS[:, :3], FPHA_EXTRINSICS[:, 3]
    world = _unorder((ours - translation) @ rotation, FPHA_TO_OURS)  # R^-1 = R^T
    lines = [f"{i} " + " ".join(f"{v:.6f}" for v in w.ravel()) for i, w in enumerate(world)]
    lines.append("3 " + " ".join(["0"] * 63))  # an untracked frame
    seq = tmp_path / "Hand_pose_annotation_v1" / "Subject_2" / "open_juice_bottle" / "1"
    seq.mkdir(parents=True)
    (seq / "skeleton.txt").write_text("\n".join(lines) + "\n")

    samples = list(read_fpha(tmp_path))

    assert len(samples) == 3
    assert samples[2].image_path == (tmp_path / "Video_files" / "Subject_2" / "open_juice_bottle"
                                     / "1" / "color" / "color_0002.jpeg")
    np.testing.assert_allclose(samples[2].joints3d, ours[2], atol=1e-3)
    np.testing.assert_allclose(samples[2].joints2d, project(ours[2], samples[2].K), atol=1e-3)
    assert list(read_fpha(tmp_path, subjects=(1,))) == []


def test_panoptic_reads_hand_pts_and_is_left(tmp_path):
    rng = np.random.default_rng(4)
    points = np.concatenate([rng.uniform(10, 300, (21, 2)), np.ones((21, 1))], 1)
    points[20, 2] = 0
    for name, is_left in (("Ricki_unit_8.flv_000003_l", 1), ("000015774_01_r", 0)):
        (tmp_path / f"{name}.json").write_text(json.dumps(
            {"hand_pts": points.tolist(), "is_left": is_left, "hand_box_center": [150, 150]}))
        _write_image(tmp_path / f"{name}.jpg")

    samples = list(read_panoptic(tmp_path))

    assert [(s.image_path.name, s.handedness) for s in samples] == [
        ("000015774_01_r.jpg", "right"), ("Ricki_unit_8.flv_000003_l.jpg", "left")]
    np.testing.assert_allclose(samples[0].joints2d[:20], points[:20, :2], atol=1e-4)
    assert np.isnan(samples[0].joints2d[20]).all()  # flag 0: not annotated
    assert samples[0].joints3d is None and samples[0].visibility.sum() == 20


def test_teacher_index_and_registry(tmp_path):
    rng = np.random.default_rng(5)
    record = {"file": "crops/000000.jpg", "source": "/x.jpg", "frame": None,
              "handedness": "left", "score": 0.9, "joints2d": rng.uniform(0, 160, (21, 2)).tolist(),
              "joints3d": (_hand(rng) - _hand(rng)[0]).tolist(), "box": [1, 2, 3], "res": 160}
    low = dict(record, score=0.3)
    (tmp_path / "index.jsonl").write_text(json.dumps(record) + "\n" + json.dumps(low) + "\n")

    samples = read_samples("teacher", tmp_path, min_score=0.5)

    assert len(samples) == 1 and samples[0].image_path == tmp_path / "crops" / "000000.jpg"
    np.testing.assert_allclose(samples[0].joints2d, record["joints2d"], atol=1e-4)
    assert len(read_teacher_index(tmp_path / "index.jsonl")) == 2
    with pytest.raises(ValueError, match="unknown dataset"):
        read_samples("nyu", tmp_path)


def test_hand_sample_validates_shapes_and_handedness(tmp_path):
    with pytest.raises(ValueError, match="joints2d"):
        HandSample(tmp_path / "a.jpg", np.zeros((20, 2)), None, "right")
    with pytest.raises(ValueError, match="handedness"):
        HandSample(tmp_path / "a.jpg", None, None, "Right")
