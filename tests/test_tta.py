"""Test-time rotation averaging turns crops as dirnet.crop does and maps the joints back with the
same geometry."""
from __future__ import annotations

import numpy as np
import torch

from dirnet.crop import Box, crop_matrix, crop_rotation_3d, invert_affine, transform_points, warp
from dirnet.evaluation.tta import rotation_average, turn
from dirnet.models import forward_loops
from tests.conftest import TINY_RES as RES
from tests.conftest import tiny_model


def test_a_turned_copy_is_the_crop_that_crop_matrix_cuts():
    image = np.zeros((RES, RES, 3), np.uint8)
    image[10:14, 40:44] = 255  # a bright square off the centre
    whole = Box((RES - 1) / 2, (RES - 1) / 2, RES)  # the crop itself, unscaled
    for degrees in (30.0, -90.0):
        expected = warp(image, crop_matrix(whole, RES, np.deg2rad(degrees)), RES)
        turned = turn(torch.from_numpy(image).permute(2, 0, 1)[None].float(), degrees)[0].permute(1, 2, 0)
        centre_of = lambda img: np.argwhere(np.asarray(img)[..., 0] > 127).mean(0)  # noqa: E731
        assert np.abs(centre_of(turned.numpy()) - centre_of(expected)).max() < 0.6


def test_joints_come_back_through_the_inverse_of_the_turn():
    model = tiny_model()
    images = torch.rand(2, 3, RES, RES)
    degrees = 20.0
    with torch.no_grad():
        plain = forward_loops(model, images)[-1]
        assert torch.allclose(rotation_average(model, images, (0.0,))[0].joints2d.float(), plain.joints2d, atol=1e-4)
        turned = forward_loops(model, turn(images, degrees))[-1]
        back = rotation_average(model, images, (degrees,))[0]
    whole = Box((RES - 1) / 2, (RES - 1) / 2, RES)
    to_plain = invert_affine(crop_matrix(whole, RES, np.deg2rad(degrees)))
    for i in range(2):
        np.testing.assert_allclose(back.joints2d[i].numpy(), transform_points(turned.joints2d[i].numpy(), to_plain),
                                   atol=1e-3)
    rotation = crop_rotation_3d(np.deg2rad(degrees))
    np.testing.assert_allclose(back.joints3d.numpy() @ rotation.T, turned.joints3d.numpy(), atol=1e-3)
