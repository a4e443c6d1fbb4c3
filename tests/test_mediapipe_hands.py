"""The one MediaPipe Hands wrapper on the real clip: px and mm landmarks, handedness, padding."""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

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


# Ctrl+C while MediaPipe's native modules initialise: the interrupt arrives as soon as the native
# framework module is asked for; it must surface as KeyboardInterrupt once MediaPipe is fully up
# (not as "ImportError: initialization failed"), and the graph must be closed.
_INTERRUPT_DURING_IMPORT = """
import importlib.abc, os, signal, sys
from dirnet.mediapipe_hands import MediaPipeHands

class InterruptOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "mediapipe.python._framework_bindings":
            os.kill(os.getpid(), signal.SIGINT)
        return None  # the normal import goes on

sys.meta_path.insert(0, InterruptOnImport())
try:
    MediaPipeHands()
except KeyboardInterrupt:
    print("interrupted after", "mediapipe.python.solutions.hands" in sys.modules)
"""


def test_an_interrupt_while_mediapipe_starts_is_held_until_it_is_up():
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", _INTERRUPT_DURING_IMPORT], cwd=root, capture_output=True,
                          text=True, timeout=300, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "interrupted after True"
