"""Shared test helpers: locating ../shared and the Qt platform for widget tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

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
