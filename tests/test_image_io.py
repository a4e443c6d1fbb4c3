"""The one image reader: RGB order, every listed suffix, non-ASCII paths, and named failures."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from dirnet.image_io import IMAGE_SUFFIXES, read_rgb


@pytest.mark.parametrize("suffix", sorted(IMAGE_SUFFIXES - {".jpg", ".jpeg", ".webp"}))
def test_lossless_formats_read_back_exactly_in_rgb_order(tmp_path, suffix):
    rgb = np.random.default_rng(0).integers(0, 256, (12, 20, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)  # pure red: BGR files must come back with red first
    path = tmp_path / f"händ{suffix}"  # not ASCII: cv2.imread cannot open such paths everywhere
    ok, data = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    data.tofile(str(path))
    image = read_rgb(path)
    assert image.dtype == np.uint8 and image.shape == (12, 20, 3)
    np.testing.assert_array_equal(image, rgb)


def test_jpeg_is_read_in_rgb_order(tmp_path):
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    path = tmp_path / "red.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(red, cv2.COLOR_RGB2BGR))
    assert np.abs(read_rgb(path).astype(int) - red).max() <= 2


def test_missing_and_corrupt_files_raise_naming_the_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_rgb(tmp_path / "absent.png")
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ValueError, match="broken.jpg"):
        read_rgb(bad)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.png"):
        read_rgb(empty)
