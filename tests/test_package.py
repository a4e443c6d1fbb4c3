"""The package works outside the checkout: pip installs it, and the installed copy finds its model,
its hand asset, its starter gestures and its console scripts from any folder."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"dirnet-app", "dirnet-predict", "dirnet-evaluate", "dirnet-benchmark", "dirnet-train",
           "dirnet-train-gate", "dirnet-bench", "dirnet-flops", "dirnet-export", "dirnet-teacher",
           "dirnet-synth", "dirnet-finetune", "dirnet-calibrate"}

# Runs in the installed copy: the shipped model on a blank crop, where every shipped file was found,
# and every console script's target imported.
_CHECK = """
import json
from importlib.metadata import distribution

import numpy as np

import dirnet
from app.gestures import STARTER_GESTURES
from dirnet import Estimator
from dirnet.estimator import DEFAULT_WEIGHTS
from dirnet.hand.open_hand import DEFAULT_ASSET
from dirnet.runtime import plan_path
from dirnet.weights import checkpoint_paths

with Estimator.from_pretrained() as est:
    pose = est.estimate([np.zeros((est.input_res, est.input_res, 3), np.uint8)], "right")[0]
dist = distribution("dirnet-hand-tracker")
scripts = {ep.name: ep.load().__module__ for ep in dist.entry_points if ep.group == "console_scripts"}
print(json.dumps({"trained": est.is_trained, "loops": pose.loops, "scripts": scripts,
                  "precision": est.precision,
                  "files": [dirnet.__file__, *map(str, checkpoint_paths(DEFAULT_WEIGHTS)),
                            str(plan_path(DEFAULT_WEIGHTS)),
                            str(DEFAULT_ASSET), str(STARTER_GESTURES)]}))
"""


def _env(site: Path) -> dict[str, str]:
    """This interpreter's environment with the installed copy as the only extra import path."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "PYTHONPATH": str(site)}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """`pip install --no-deps` of the checkout into an empty folder (offline: no build isolation)."""
    tmp = tmp_path_factory.mktemp("package")
    # Build from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    source = tmp / "source"
    for name in ("dirnet", "app"):
        shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    site = tmp / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                           "--no-build-isolation", "--no-compile", "--disable-pip-version-check",
                           "--target", str(site), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return site


def test_installed_copy_runs_from_another_folder(site, tmp_path):
    assert sorted(p.name for p in site.iterdir() if not p.name.endswith(".dist-info")) == \
        ["app", "bin", "dirnet"], "only the two packages and their scripts are installed"
    done = subprocess.run([sys.executable, "-c", _CHECK], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path, env=_env(site))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["trained"], "the shipped weights must be found in the installed copy"
    assert 1 <= report["loops"] <= 4
    assert report["precision"] == "int8", "the shipped int8 plan must be found and used"
    for path in map(Path, report["files"]):
        assert path.is_file() and path.resolve().is_relative_to(site.resolve()), path
    assert set(report["scripts"]) == SCRIPTS


def test_console_script_runs(site, tmp_path):
    done = subprocess.run([str(site / "bin" / "dirnet-predict"), "--help"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path, env=_env(site))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "--input-dir" in done.stdout
