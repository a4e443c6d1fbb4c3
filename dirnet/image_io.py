"""Image files: which suffixes count as images, and the one reader (RGB uint8)."""
from __future__ import annotations

import os

import cv2
import numpy as np

__all__ = ["IMAGE_SUFFIXES", "read_rgb"]

# Lower-case suffixes OpenCV decodes that folders of photos or crops are searched for.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file.

    Decoded from the file's bytes rather than by cv2.imread, so paths that are not ASCII work too.

    Raises:
        FileNotFoundError: no such file.
        OSError: the file cannot be read.
        ValueError: the file is not an image OpenCV can decode (named).
    """
    data = np.fromfile(os.fspath(path), dtype=np.uint8)
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ValueError(f"not a readable image: {path}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
