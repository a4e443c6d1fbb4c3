"""Crop geometry: boxes, crop affines, their inverses, mirroring and warping agree."""
from __future__ import annotations

import numpy as np
import pytest

from dirnet.crop import (REFRAME_BELOW, Box, box_from_points, crop_matrix, crop_rotation_3d,
                         invert_affine, reframe_box, transform_points, warp)


def test_box_from_points_is_square_centred_and_scaled_by_margin():
    points = np.array([[10.0, 20.0], [50.0, 30.0], [30.0, 80.0], [np.nan, 5.0]])
    box = box_from_points(points, margin=1.5)
    assert (box.cx, box.cy) == (30.0, 50.0)
    assert box.size == pytest.approx(1.5 * 60.0)  # larger side is y: 80 - 20


def test_box_from_points_rejects_bad_input():
    with pytest.raises(ValueError, match="finite"):
        box_from_points(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="shape"):
        box_from_points(np.zeros((3, 3)))


def test_reframe_box_only_for_loosely_framed_hands():
    hand = np.array([[40.0, 60.0], [120.0, 160.0]])  # extent 100 px: training-style box of 150 px
    assert reframe_box(hand, 160, 160) is None  # the crop already frames it like the teacher's
    box = reframe_box(hand, 300, 200)  # the longer side counts: 150 < 0.8 * 300
    assert box == box_from_points(hand) and box.size == pytest.approx(150.0)
    assert reframe_box(hand, 200, 200, below=0.7) is None  # 150 >= 0.7 * 200
    assert 0 < REFRAME_BELOW < 1


def test_crop_matrix_maps_box_edges_to_crop_edges():
    box = Box(100.0, 60.0, 40.0)
    matrix = crop_matrix(box, 64)
    corners = np.array([[80.0, 40.0], [120.0, 80.0], [100.0, 60.0]])
    np.testing.assert_allclose(transform_points(corners, matrix),
                               [[-0.5, -0.5], [63.5, 63.5], [31.5, 31.5]], atol=1e-9)


@pytest.mark.parametrize("rotation,mirror", [(0.0, False), (0.7, False), (-2.1, True), (0.3, True)])
def test_known_transform_and_its_inverse_return_the_points(rotation, mirror):
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 300, size=(21, 2))
    matrix = crop_matrix(Box(150.0, 140.0, 123.0), 96, rotation=rotation, mirror=mirror)
    back = transform_points(transform_points(points, matrix), invert_affine(matrix))
    np.testing.assert_allclose(back, points, atol=1e-9)


def test_mirrored_crop_maps_x_to_res_minus_one_minus_x():
    box = Box(37.3, 81.9, 55.0)
    points = np.random.default_rng(1).uniform(0, 120, size=(10, 2))
    plain = transform_points(points, crop_matrix(box, 128))
    mirrored = transform_points(points, crop_matrix(box, 128, mirror=True))
    np.testing.assert_allclose(mirrored[:, 0], 127 - plain[:, 0], atol=1e-9)
    np.testing.assert_allclose(mirrored[:, 1], plain[:, 1], atol=1e-9)


def test_positive_rotation_turns_content_clockwise_on_screen():
    box = Box(50.0, 50.0, 100.0)
    # A point straight above the centre (y down) moves to the right for a +90 degree rotation.
    above = transform_points(np.array([[50.0, 10.0]]), crop_matrix(box, 100, rotation=np.pi / 2))
    np.testing.assert_allclose(above, [[49.5 + 40.0, 49.5]], atol=1e-9)


def test_rotation_3d_matches_the_2d_linear_part():
    for rotation, mirror in [(0.4, False), (-1.3, True)]:
        linear = crop_matrix(Box(0.0, 0.0, 10.0), 10, rotation, mirror)[:, :2]
        np.testing.assert_allclose(crop_rotation_3d(rotation, mirror)[:2, :2], linear, atol=1e-12)
    assert np.linalg.det(crop_rotation_3d(0.2, True)) == pytest.approx(-1.0)


@pytest.mark.parametrize("mirror", [False, True])
def test_warp_puts_image_content_where_transform_points_says(mirror):
    image = np.zeros((240, 320, 3), np.uint8)
    spot = np.array([201.0, 77.0])
    image[77, 201] = 255
    box = Box(190.0, 90.0, 64.0)  # 1 image px = 2 crop px, no pyramid
    matrix = crop_matrix(box, 128, rotation=0.5, mirror=mirror)
    crop = warp(image, matrix, 128)
    expected = transform_points(spot, matrix)
    brightest = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])[::-1]
    assert np.abs(np.array(brightest) - expected).max() <= 1.0


def test_warp_downscale_keeps_geometry_and_fills_outside_with_black():
    image = np.zeros((800, 800, 3), np.uint8)
    image[390:411, 590:611] = 200  # a 21 px square centred on (600, 400)
    matrix = crop_matrix(Box(500.0, 400.0, 1000.0), 100)  # scale 0.1: goes through pyrDown
    crop = warp(image, matrix, 100)
    ys, xs = np.nonzero(crop[..., 0] > 50)
    centre = transform_points(np.array([600.0, 400.0]), matrix)
    assert abs(xs.mean() - centre[0]) < 0.75 and abs(ys.mean() - centre[1]) < 0.75
    assert crop[:, :4].max() == 0  # left of the image (x < 0) is the constant border
