"""What produced a recording, for session.json: source, weights, package versions, git commit."""
from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

__all__ = ["session_info", "versions", "git_commit"]

_ROOT = Path(__file__).resolve().parents[1]
_PACKAGES = ("torch", "numpy", "opencv-contrib-python", "mediapipe", "onnxruntime", "av", "PyQt6")


def versions() -> dict[str, str]:
    """Python's and the installed packages' versions that shape the results."""
    found = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def git_commit(root: Path = _ROOT) -> str | None:
    """HEAD of the checkout the app runs from ("-dirty" when tracked files differ), or None when
    it is not a git checkout or git is missing."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=5)
        if head.returncode:
            return None
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def session_info(spec: str, source_name: str, estimator, headless: bool) -> dict:
    """The facts session.json starts with.

    Args:
        spec: the source as asked for ("0", "demo", a path); a path is stored absolute.
        source_name: the opened source's name ("camera 0", "demo", "clip.mp4").
        estimator: the dirnet Estimator in use, or None.
    """
    path = Path(spec)
    weights = getattr(estimator, "weights_path", None)
    return {
        "source": source_name,
        "source_path": str(path.resolve()) if not spec.isdigit() and path.exists() else None,
        "weights": str(weights) if weights else None,
        "weights_trained": bool(getattr(estimator, "is_trained", False)),
        "headless": headless,
        "versions": versions(),
        "git_commit": git_commit(),
    }
