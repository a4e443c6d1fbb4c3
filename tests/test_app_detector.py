"""MediaPipe detector wrapper on the real clip: landmarks in frame px and the handedness swap."""
from __future__ import annotations

import numpy as np
import pytest

from app.detector import HandDetector


def test_detects_the_hand_where_the_reference_has_it(clip_frame):
    frame, reference = clip_frame
    with HandDetector(static=True) as det:
        (hand,) = det.detect(frame)
        # The clip is not mirrored: MediaPipe's "Left" is the signer's right hand.
        assert hand.handedness == "right"
        assert np.median(np.linalg.norm(hand.landmarks - reference, axis=1)) < 5.0
        assert abs(hand.box.cx - reference[:, 0].mean()) < 60 and hand.box.size > 100
        assert det.detect(frame, mirrored=True)[0].handedness == "left"


def test_blank_frame_has_no_hand_and_bad_input_is_refused():
    with HandDetector() as det:
        assert det.detect(np.zeros((240, 320, 3), np.uint8)) == []
        with pytest.raises(ValueError, match="uint8"):
            det.detect(np.zeros((240, 320, 3), np.float32))
