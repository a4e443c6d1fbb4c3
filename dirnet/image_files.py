"""Reading image files whole or not at all: a cut-off JPEG decodes without error (its missing rows
come out grey), so it is detected and refused here instead of being treated as a real photo."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

__all__ = ["read_rgb", "jpeg_is_truncated", "UnreadableImage"]

_SOI, _EOI, _SOS = b"\xff\xd8", b"\xff\xd9", b"\xff\xda"


class UnreadableImage(ValueError):
    """A file that is not a whole, decodable image; the message says why in a few words."""


def jpeg_is_truncated(data: bytes) -> bool:
    """True for a JPEG whose last scan is not followed by the end-of-image marker.

    Entropy-coded scan data never contains FFD9 or FFDA (FF bytes are stuffed), and an embedded
    thumbnail's end marker comes before the main image's scans, so a whole JPEG has its last EOI
    after its last SOS.
    """
    return data[:2] == _SOI and data.rfind(_EOI) < data.rfind(_SOS)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """(H, W, 3) uint8 RGB of an image file.

    Raises:
        UnreadableImage: not an image OpenCV decodes, or a truncated JPEG.
        OSError: the file cannot be read.
    """
    data = Path(path).read_bytes()
    if not data:
        raise UnreadableImage("empty file")
    if jpeg_is_truncated(data):
        raise UnreadableImage("truncated JPEG")
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise UnreadableImage("not a readable image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)
