"""Image files: which suffixes count as images, and the one reader (RGB uint8), which reads a file
whole or not at all: a cut-off JPEG decodes without error (its missing rows come out grey), so it
is detected and refused here instead of being treated as a real photo."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

__all__ = ["IMAGE_SUFFIXES", "UnreadableImage", "jpeg_is_truncated", "read_rgb"]

# Lower-case suffixes OpenCV decodes that folders of photos or crops are searched for.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})

_SOI, _EOI, _SOS = b"\xff\xd8", b"\xff\xd9", b"\xff\xda"


class UnreadableImage(ValueError):
    """A file that is not a whole, decodable image; the message names it and says why (`reason`)."""

    def __init__(self, path: str | os.PathLike, reason: str):
        super().__init__(f"{path}: {reason}")
        self.reason = reason


def jpeg_is_truncated(data: bytes) -> bool:
    """True for a JPEG whose last scan is not followed by the end-of-image marker.

    Entropy-coded scan data never contains FFD9 or FFDA (FF bytes are stuffed), and an embedded
    thumbnail's end marker comes before the main image's scans, so a whole JPEG has its last EOI
    after its last SOS.
    """
    return data[:2] == _SOI and data.rfind(_EOI) < data.rfind(_SOS)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file.

    Decoded from the file's bytes rather than by cv2.imread, so paths that are not ASCII work too.

    Raises:
        FileNotFoundError: no such file.
        OSError: the file cannot be read.
        UnreadableImage (a ValueError): empty, a truncated JPEG, or not an image OpenCV decodes.
    """
    data = Path(path).read_bytes()
    if not data:
        raise UnreadableImage(path, "empty file")
    if jpeg_is_truncated(data):
        raise UnreadableImage(path, "truncated JPEG")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UnreadableImage(path, "not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)
