"""Training data layer: consistent 2D/3D label transforms, mirroring, masks, mixing, tensors."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from dirnet.crop import box_from_points, invert_affine, transform_points
from dirnet.data.augment import AugmentConfig, CropParams, make_crop, photometric
from dirnet.data.dataset import HandCropDataset, MixedDataset, TensorHandDataset, make_loader
from dirnet.data.readers import HandSample, project
from dirnet.hand.skeleton import PARENTS

K = np.array([[1000.0, 0.0, 160.0], [0.0, 1000.0, 120.0], [0.0, 0.0, 1.0]])


def _hand(rng: np.random.Generator, depth: float = 900.0) -> np.ndarray:
    """(21, 3) mm camera frame; small depth spread so 2D is nearly a scaled copy of 3D x, y."""
    joints = np.zeros((21, 3))
    joints[0] = [rng.uniform(-30, 10), rng.uniform(40, 60), depth]  # whole hand inside 320x240
    for j in range(1, 21):
        joints[j] = joints[PARENTS[j]] + np.array([(j - 10) * 2.0, -22.0, 0.0]) + rng.normal(0, 5, 3)
    return joints


def _scene(tmp_path, rng, handedness="right", name="hand.png"):
    """An image with a bright dot at each projected joint, and its HandSample."""
    joints3d = _hand(rng)
    joints2d = project(joints3d, K)
    image = np.zeros((240, 320, 3), np.uint8)
    for x, y in joints2d:
        cv2.circle(image, (int(round(x)), int(round(y))), 1, (255, 255, 255), -1)
    path = tmp_path / name
    cv2.imwrite(str(path), image)
    return image, HandSample(path, joints2d, joints3d, handedness, K=K)


@pytest.mark.parametrize("mirror", [False, True])
def test_known_crop_transform_and_its_inverse_return_the_labels(tmp_path, mirror):
    rng = np.random.default_rng(0)
    image, sample = _scene(tmp_path, rng)
    box = box_from_points(sample.joints2d)
    params = CropParams(scale=1.1, shift=(0.05, -0.03), rotation=0.6)
    crop, joints2d, joints3d, matrix = make_crop(image, sample.joints2d, sample.joints3d, box, 128,
                                                 params, mirror)
    np.testing.assert_allclose(transform_points(joints2d, invert_affine(matrix)), sample.joints2d,
                               atol=1e-3)
    rotation = matrix[:, :2] / np.sqrt(abs(np.linalg.det(matrix[:, :2])))
    relative = sample.joints3d - sample.joints3d[0]
    back = joints3d.astype(np.float64)
    back[:, :2] = back[:, :2] @ np.linalg.inv(rotation).T
    np.testing.assert_allclose(back, relative, atol=1e-3)
    # The pixels moved with the labels: every joint's dot is bright in the crop.
    for x, y in joints2d:
        assert crop[int(round(y)) - 1:int(round(y)) + 2, int(round(x)) - 1:int(round(x)) + 2].max() > 60


@pytest.mark.parametrize("rotation_deg,mirror", [(0, False), (50, False), (-120, False), (70, True)])
def test_rotated_3d_joints_point_the_same_way_as_rotated_2d_joints(tmp_path, rotation_deg, mirror):
    rng = np.random.default_rng(1)
    image, sample = _scene(tmp_path, rng)
    params = CropParams(rotation=np.deg2rad(rotation_deg))
    _, joints2d, joints3d, _ = make_crop(image, sample.joints2d, sample.joints3d,
                                         box_from_points(sample.joints2d), 160, params, mirror)
    offsets2d = joints2d[1:] - joints2d[0]
    offsets3d = joints3d[1:, :2] - joints3d[0, :2]
    cosine = (offsets2d * offsets3d).sum(1) / np.linalg.norm(offsets2d, axis=1) / \
        np.linalg.norm(offsets3d, axis=1)
    assert cosine.min() > 0.97


def test_left_hand_is_mirrored_into_a_right_hand(tmp_path):
    rng = np.random.default_rng(2)
    _, right = _scene(tmp_path, rng, "right", "r.png")
    left = HandSample(right.image_path, right.joints2d, right.joints3d, "left", K=K)
    plain = HandCropDataset([right], res=96, seed=0)[0]
    mirrored = HandCropDataset([left], res=96, seed=0)[0]
    assert plain["is_left"] == 0 and mirrored["is_left"] == 1
    torch.testing.assert_close(mirrored["joints2d"][:, 0], 95 - plain["joints2d"][:, 0])
    torch.testing.assert_close(mirrored["joints3d"][:, 0], -plain["joints3d"][:, 0])
    torch.testing.assert_close(mirrored["image"], plain["image"].flip(-1))


def test_items_have_shapes_masks_and_the_networks_pixel_range(tmp_path):
    rng = np.random.default_rng(3)
    _, full = _scene(tmp_path, rng)
    only3d = HandSample(full.image_path, None, full.joints3d, "right", K=K)  # 2D from K
    joints2d = full.joints2d.copy()
    joints2d[20] = np.nan
    only2d = HandSample(full.image_path, joints2d, None, "right")
    dataset = HandCropDataset([full, only3d, only2d], res=64, seed=0)
    items = [dataset[i] for i in range(3)]
    for item in items:
        assert item["image"].shape == (3, 64, 64) and item["image"].dtype == torch.float32
        assert item["joints2d"].shape == (21, 2) and item["joints3d"].shape == (21, 3)
    torch.testing.assert_close(items[1]["joints2d"], items[0]["joints2d"], atol=1e-3, rtol=0)
    assert [float(i["has3d"]) for i in items] == [1.0, 1.0, 0.0]
    assert [float(i["has2d"]) for i in items] == [1.0, 1.0, 1.0]
    assert items[2]["valid2d"].sum() == 20 and items[2]["joints2d"][20].abs().sum() == 0
    assert torch.equal(items[0]["joints3d"][0], torch.zeros(3))  # wrist-relative
    # RGB in [0, 1] as DIRNet takes it (ImageNet-normalised black would be about -2).
    image = items[0]["image"]
    assert image.min() == 0.0 and 0.0 < image.max() <= 1.0


def test_augmentation_changes_pixels_not_label_consistency(tmp_path):
    rng = np.random.default_rng(4)
    _, sample = _scene(tmp_path, rng)
    dataset = HandCropDataset([sample], res=96, augment=AugmentConfig(rotation_deg=180))
    torch.manual_seed(0)
    first, second = dataset[0], dataset[0]
    assert not torch.equal(first["joints2d"], second["joints2d"])  # fresh draw per access
    for item in (first, second):  # bone lengths in 3D are unchanged by rotation
        bones = item["joints3d"][1:] - item["joints3d"][list(PARENTS[1:])]
        expected = sample.joints3d[1:] - sample.joints3d[list(PARENTS[1:])]
        np.testing.assert_allclose(bones.norm(dim=1), np.linalg.norm(expected, axis=1), atol=1e-3)
    image = torch.full((3, 32, 32), 0.5)
    strong = AugmentConfig(blur_prob=1.0, noise_prob=1.0)
    out = photometric(image, torch.Generator().manual_seed(0), strong)
    assert out.shape == (3, 32, 32) and not torch.equal(out, image) and 0 <= out.min() <= out.max() <= 1
    assert torch.equal(photometric(image, torch.Generator(), AugmentConfig(colour=0, blur_prob=0,
                                                                          noise_prob=0)), image)


def test_tensor_dataset_matches_disk_dataset_and_mixed_sampling_follows_weights(tmp_path):
    rng = np.random.default_rng(5)
    samples = [_scene(tmp_path, rng, name=f"{i}.png")[1] for i in range(3)]
    disk = HandCropDataset(samples, res=64, seed=7)
    memory = TensorHandDataset.from_samples(samples, res=64, seed=7, threads=2)
    assert memory.images.shape == (3, 240, 320, 3)
    for i in range(3):
        torch.testing.assert_close(memory[i]["image"], disk[i]["image"])
    small = TensorHandDataset.from_samples(samples, size=120, res=64, seed=7)
    np.testing.assert_allclose(small.samples[0].joints2d, (samples[0].joints2d + 0.5)
                               * [120 / 320, 120 / 240] - 0.5, atol=1e-4)

    mixed = MixedDataset([(disk, 3.0), (memory, 1.0)])
    draws = torch.tensor(list(mixed.sampler(4000, torch.Generator().manual_seed(0))))
    share = (draws < 3).float().mean().item()
    assert abs(share - 0.75) < 0.03
    batch = next(iter(make_loader(mixed, batch_size=4, num_samples=8,
                                  generator=torch.Generator().manual_seed(0))))
    assert batch["image"].shape == (4, 3, 64, 64) and batch["is_left"].shape == (4,)
