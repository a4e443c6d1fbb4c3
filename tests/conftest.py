"""Shared test helpers: locating ../shared, the Qt platform for widget tests, a private config home."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# No test may read or write the user's own settings or gestures, nor may the app it starts in a
# subprocess: the config home (app.config's defaults) is a fresh folder for the session.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="dirnet-test-config-")
atexit.register(shutil.rmtree, os.environ["XDG_CONFIG_HOME"], True)

SHARED = Path(os.environ.get("DIRNET_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
REQUIRE_SHARED = os.environ.get("REQUIRE_SHARED") == "1"


def shared_path(*parts: str) -> Path:
    """Path under ../shared; skips the test when it is missing, fails instead if REQUIRE_SHARED=1."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"{path} is missing (../shared beside the checkout)"
        if REQUIRE_SHARED:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def clip_frame():
    """The ASL clip's first frame (RGB) and MediaPipe's 2D landmarks for it (frame px)."""
    import json

    import cv2
    import numpy as np

    video = shared_path("data", "asl_video", "asl_hand.25fps.mp4")
    reference = json.loads(shared_path("data", "asl_video", "asl_hand.full.json").read_text())
    ok, bgr = cv2.VideoCapture(str(video)).read()
    assert ok
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.array(reference[0])[:, :2]
