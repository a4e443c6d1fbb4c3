"""Atomic file writes: readers see the old file or the complete new one, never a half-written one."""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

__all__ = ["atomic_write", "write_text_atomic", "write_bytes_atomic", "temp_folder_beside", "publish_folder"]


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call `write(tmp)` on a hidden temporary path beside `path` (same suffix), then rename it over
    `path`. The temporary file is removed if `write` fails.

    Raises:
        OSError: the folder is not writable.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}{path.suffix}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        # A failed clean-up (a read-only file system refuses even to unlink a missing file) must not
        # hide the error that made the write fail.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def temp_folder_beside(out: Path, tag: str = "tmp") -> Path:
    """A new hidden folder `.NAME.TAG-XXXX` beside `out` (same file system, so it renames into place)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{tag}-", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the published folder should not be
    return tmp


def publish_folder(tmp: Path, out: Path) -> None:
    """Rename the complete folder `tmp` to `out`; an existing `out` is replaced only now."""
    if out.exists():
        old = temp_folder_beside(out, "old")
        out.rename(old / "data")
        tmp.rename(out)
        shutil.rmtree(old)
    else:
        tmp.rename(out)
