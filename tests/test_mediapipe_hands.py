"""The one MediaPipe Hands wrapper on the real clip: px and mm landmarks, handedness, padding."""
from __future__ import annotations

import numpy as np
import pytest

from dirnet.mediapipe_hands import MediaPipeHands


def test_landmarks_handedness_and_padding(clip_frame):
    frame, reference = clip_frame
    with MediaPipeHands(static=True, max_hands=1) as hands:
        (hand,) = hands.process(frame)
        # Within 5 px of MediaPipe full's own landmarks shipped with the clip.
        assert hand.joints2d.shape == (21, 2) and np.median(np.linalg.norm(hand.joints2d - reference, axis=1)) < 5
        # World landmarks: mm about the wrist; a hand spans about 100-250 mm.
        assert hand.joints3d.shape == (21, 3) and np.all(hand.joints3d[0] == 0)
        assert 80 < np.ptp(hand.joints3d, axis=0).max() < 300
        # The clip is not mirrored: MediaPipe's "Left" is the signer's right hand.
        assert hand.handedness == "right" and 0.5 <= hand.score <= 1
        assert hands.process(frame, mirrored=True)[0].handedness == "left"
        # A border changes what MediaPipe sees, not the frame the landmarks are reported in.
        (padded,) = hands.process(frame, pad=120)
        assert np.median(np.linalg.norm(padded.joints2d - hand.joints2d, axis=1)) < 5


def test_blank_image_has_no_hand_and_bad_input_is_refused():
    with MediaPipeHands() as hands:
        assert hands.process(np.zeros((240, 320, 3), np.uint8)) == []
        for bad in (np.zeros((240, 320, 3), np.float32), np.zeros((240, 320), np.uint8)):
            with pytest.raises(ValueError, match="uint8"):
                hands.process(bad)
