"""Synthetic renderer: rasteriser depth test, label/mask consistency, determinism, the CLI."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch

from dirnet.data.backgrounds import BackgroundBank
from dirnet.data.photometric import jpeg_like
from dirnet.data.raster import interpolate, rasterize
from dirnet.data.synth import SynthConfig, SynthRenderer
from dirnet.data.synth.__main__ import main
from dirnet.data.synth.pose import axis_rotation, project
from dirnet.hand import create_hand_model, gesture_angles
from dirnet.hand.skeleton import FINGERS

RES = 128


@pytest.fixture(scope="module")
def renderer() -> SynthRenderer:
    return SynthRenderer(create_hand_model("open"), res=RES)


@pytest.fixture(scope="module")
def batch(renderer):
    return renderer.sample(16, torch.Generator().manual_seed(3))


def _triangle(cx: float, cy: float, r: float, z: float) -> list[list[float]]:
    """A front-facing (counter-clockwise as seen by the camera) triangle, pixel coords + depth."""
    return [[cx - r, cy + r, z], [cx + r, cy + r, z], [cx, cy - r, z]]


def test_depth_test_front_triangle_wins():
    # Two overlapping triangles; the far one is listed second in one mesh and first in the other.
    near, far = _triangle(30, 30, 20, 2.0), _triangle(36, 34, 20, 5.0)
    points = torch.tensor([near + far, far + near])
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    frags = rasterize(points, faces, 64, 64)
    face_img = torch.full((2 * 64 * 64,), -1)
    face_img[frags.pixel] = frags.face
    face_img = face_img.view(2, 64, 64)
    # Pixel (x 33, y 33) is inside both: mesh 0 lists the near face first, mesh 1 second.
    assert face_img[0, 33, 33] == 0 and face_img[1, 33, 33] == 1
    assert frags.depth[0, 33, 33] == pytest.approx(2.0) and frags.depth[1, 33, 33] == pytest.approx(2.0)
    # Only the far triangle covers pixel (x 40, y 53); nothing covers (x 5, y 60).
    assert face_img[0, 53, 40] == 1 and frags.depth[0, 53, 40] == pytest.approx(5.0)
    assert face_img[0, 60, 5] == -1 and math.isinf(frags.depth[0, 60, 5])
    # Barycentric interpolation of the vertex pixel coordinates gives back the pixel centre.
    uv = interpolate(frags, faces, points[..., :2])
    pixel = frags.pixel % (64 * 64)
    assert torch.allclose(uv, torch.stack([pixel % 64, pixel // 64], 1).float(), atol=1e-3)
    # Interpolating inside the rasteriser gives the same values.
    fused = rasterize(points, faces, 64, 64, attrs=points[..., :2])
    assert torch.equal(fused.pixel, frags.pixel) and torch.allclose(fused.values, uv, atol=1e-3)


def test_backfaces_are_culled_and_perspective_depth_is_exact():
    # A slanted triangle: depth must follow the 3D plane (1/z is what is affine on screen).
    verts = torch.tensor([[[-40.0, 40.0, 200.0], [0.0, -40.0, 300.0], [40.0, 40.0, 200.0]]])
    focal, centre = 50.0, 32.0
    points = torch.cat([verts[..., :2] / verts[..., 2:] * focal + centre, verts[..., 2:]], -1)
    front, back = torch.tensor([[0, 2, 1]]), torch.tensor([[0, 1, 2]])
    frags = rasterize(points, front, 64, 64)
    assert frags.pixel.numel() > 100
    assert rasterize(points, back, 64, 64).pixel.numel() == 0
    assert rasterize(points, back, 64, 64, cull_backfaces=False).pixel.numel() == frags.pixel.numel()
    # Ray through each covered pixel meets the plane through the three vertices at that depth.
    y, x = frags.pixel // 64, frags.pixel % 64
    rays = torch.stack([(x - centre) / focal, (y - centre) / focal, torch.ones_like(x, dtype=torch.float)], 1)
    normal = torch.linalg.cross(verts[0, 1] - verts[0, 0], verts[0, 2] - verts[0, 0])
    depth = (normal @ verts[0, 0]) / (rays @ normal)
    assert torch.allclose(frags.depth.view(-1)[frags.pixel], depth, rtol=1e-4)
    # Perspective-correct interpolation: the 3D point found from the barycentrics is on the ray.
    hit = rasterize(points, front, 64, 64, attrs=verts).values
    assert torch.allclose(hit, rays * depth[:, None], atol=1e-2)


def test_labels_are_exact_projections_and_mirror_back(batch):
    assert batch.images.shape == (16, 3, RES, RES) and batch.images.dtype == torch.uint8
    assert torch.allclose(project(batch.joints3d, batch.K), batch.joints2d, atol=1e-3)
    assert batch.is_left.any() and (~batch.is_left).any()
    right = batch.to_right()
    assert torch.allclose(project(right.joints3d, right.K), right.joints2d, atol=1e-3)
    # Mirrored back, every sample is the right hand its pose/shape/orientation describe.
    canon = create_hand_model("open")(right.global_orient, right.hand_pose, right.shape).joints
    j = right.joints3d
    assert torch.allclose(canon - canon[:, :1], j - j[:, :1], atol=0.05)
    # Before mirroring back, the left samples differ from that right hand.
    left = batch.is_left
    raw = batch.joints3d - batch.joints3d[:, :1]
    assert not torch.allclose(raw[left], (canon - canon[:, :1])[left], atol=1.0)


def test_visible_joints_lie_on_the_hand_mask(batch):
    assert batch.visibility.float().mean() > 0.3
    for mask, joints, visible in zip(batch.mask.numpy(), batch.joints2d.numpy(), batch.visibility.numpy()):
        # Distance from every pixel to the nearest hand pixel.
        dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 3)
        px = np.round(joints[visible]).astype(int)
        assert (dist[px[:, 1], px[:, 0]] <= 3.0).all()


def test_bending_one_finger_changes_the_mask_only_near_it(renderer):
    model = renderer.model
    angles = torch.from_numpy(gesture_angles("open_palm"))[None].repeat(2, 1, 1)
    angles[1, 0:3, 0] += torch.tensor([0.9, 1.2, 0.8])  # curl the index finger (MANO rows 0-2)
    pose = model.angles_to_pose(angles)
    orient = axis_rotation(torch.full((2,), 0.3), 2)  # palm to the camera, rolled a little
    shape = torch.zeros(2, model.num_shape)
    K = torch.tensor([[300.0, 0, 63.5], [0, 300.0, 63.5], [0, 0, 1]]).repeat(2, 1, 1)
    transl = torch.tensor([0.0, 60.0, 650.0]).repeat(2, 1)
    masks = renderer.hand_mask(orient, pose, shape, transl, K)
    changed = masks[0] ^ masks[1]
    assert changed.sum() > 50
    # Every changed pixel is near the index finger of one of the two poses.
    joints2d = project(model(orient, pose, shape).joints + transl[:, None], K)
    index = list(FINGERS["index"])
    near = np.zeros((RES, RES), np.uint8)
    for pts in joints2d[:, index].numpy():
        cv2.polylines(near, [np.round(pts).astype(np.int32)], False, 1, thickness=1)
    dist = cv2.distanceTransform(1 - near, cv2.DIST_L2, 3)
    assert dist[changed.numpy()].max() < 12  # about a finger's width at this scale
    # The rest of the hand is untouched: most of the silhouette is shared.
    assert (masks[0] & masks[1]).sum() > 5 * changed.sum()


def test_same_seed_same_batch(renderer):
    a = renderer.sample(4, torch.Generator().manual_seed(7))
    b = renderer.sample(4, torch.Generator().manual_seed(7))
    c = renderer.sample(4, torch.Generator().manual_seed(8))
    assert torch.equal(a.images, b.images) and torch.equal(a.joints2d, b.joints2d)
    assert torch.equal(a.mask, b.mask) and torch.equal(a.visibility, b.visibility)
    assert not torch.equal(a.images, c.images)


def test_right_only_config():
    renderer = SynthRenderer(create_hand_model("open"), res=64, config=SynthConfig(left_prob=0.0))
    assert not renderer.sample(8, torch.Generator().manual_seed(0)).is_left.any()


def test_jpeg_like_matches_real_jpeg_error():
    rng = np.random.default_rng(0)
    # A smooth image with one sharp edge: both blocking and ringing show.
    y, x = np.mgrid[0:64, 0:64]
    image = np.stack([128 + 60 * np.sin(x / 9.0), 100 + 50 * np.cos(y / 7.0), 90 + 80 * (x > 30)], -1)
    image = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    ours = jpeg_like(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255, torch.tensor([30.0]))
    ours = ours[0].permute(1, 2, 0).numpy() * 255
    ok, data = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 30])
    real = cv2.imdecode(data, cv2.IMREAD_COLOR)[..., ::-1].astype(float)
    err_ours, err_real = np.abs(ours - image).mean(), np.abs(real - image).mean()
    assert 0.7 * err_real < err_ours < 1.3 * err_real
    assert np.abs(ours - real).mean() < 0.5 * err_real


def test_background_bank_avoids_boxes(tmp_path):
    # Grey photos with a red "hand"; patches must never contain red.
    for i in range(3):
        image = np.full((120, 160, 3), 128, np.uint8)
        image[40:80, 60:100] = (0, 0, 255)  # BGR red
        cv2.imwrite(str(tmp_path / f"p{i}.png"), image)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    avoid = {f"p{i}.png": [[60, 40, 100, 80]] for i in range(3)}
    bank = BackgroundBank.from_folder(tmp_path, 32, patches_per_image=4, avoid_boxes=avoid)
    assert len(bank) > 0
    red = (bank.patches[:, 0].int() - bank.patches[:, 2].int()) > 50
    assert not red.any()
    with pytest.raises(FileNotFoundError):
        BackgroundBank.from_folder(tmp_path / "missing", 32)


def test_cli_writes_dataset_atomically(tmp_path, capsys):
    out = tmp_path / "synth"
    assert main(["--n", "5", "--out", str(out), "--res", "64", "--batch-size", "3", "--seed", "1"]) == 0
    assert sorted(p.name for p in (out / "images").iterdir()) == [f"{i:06d}.jpg" for i in range(5)]
    assert len(list((out / "masks").iterdir())) == 5
    labels = np.load(out / "labels.npz")
    assert labels["joints2d"].shape == (5, 21, 2) and labels["joints3d"].shape == (5, 21, 3)
    assert labels["K"].shape == (5, 3, 3) and labels["visibility"].dtype == bool
    image = cv2.imread(str(out / "images" / "000000.jpg"))
    assert image.shape == (64, 64, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["synth"]  # no temporary left behind
    # A second run must not touch the finished dataset: one error line, status 1.
    capsys.readouterr()
    assert main(["--n", "2", "--out", str(out), "--res", "64"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "exists" in err[0]
    assert len(list((out / "images").iterdir())) == 5
