"""What the window keeps between runs: its layout and the user's choices, in an INI file (QSettings).

The command line wins: a field it set (AppConfig.given) is not taken from the file, and is saved
back only when the user changed it in the window, so a one-off flag does not replace what the
window remembers. `--fresh` (AppConfig.settings_file None) reads and writes nothing; the headless
runner never reads the file.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from PyQt6.QtCore import QByteArray, QSettings

from .config import AppConfig
from .sources import list_cameras

__all__ = ["Remembered", "CONFIG_FIELDS"]

# AppConfig fields the window's controls change, with the type each is read back as.
CONFIG_FIELDS: dict[str, type] = {
    "source": str, "width": int, "height": int, "fps": float, "mirror": bool, "exit_mode": str,
    "tau_gate": float, "tau_var": float, "max_loops": int, "smoothing": bool, "min_cutoff": float,
    "beta": float, "show_mediapipe": bool, "gesture_threshold": float,
}


class Remembered:
    """The settings file of one window.

    Args:
        path: the INI file; None remembers nothing (every read finds nothing, saves are dropped).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._store = QSettings(str(path), QSettings.Format.IniFormat) if path is not None else None
        self.problems: list[str] = []  # values in the file that could not be used, one line each

    def config(self, config: AppConfig) -> AppConfig:
        """`config` with the remembered value of every CONFIG_FIELDS field the command line did not set.

        A value of the wrong type, one AppConfig rejects, or a source that cannot open now (a
        file since deleted, an unplugged camera) is skipped and said in `problems`.
        """
        for name, kind in CONFIG_FIELDS.items():
            value = self.get(name, kind)
            if value is None or name in config.given:
                continue
            if name == "source" and not _can_open(value):
                self.problems.append(f"last run's source {value!r} is not there; opening the default")
                continue
            try:
                config = replace(config, **{name: value})
            except (TypeError, ValueError) as exc:
                self.problems.append(f"remembered {name} ignored: {exc}")
        return config

    def get(self, key: str, kind: type) -> Any:
        """The value under `key` as `kind` (str, int, float, bool, QByteArray), or None when the
        file has none or it does not convert (said in `problems`)."""
        if self._store is None or not self._store.contains(key):
            return None
        try:
            return self._store.value(key, type=kind)
        except TypeError:
            self.problems.append(f"remembered {key} ignored: {self._store.value(key)!r} is not {kind.__name__}")
            return None

    def save(self, values: dict[str, Any], config: AppConfig) -> None:
        """Write `values` (None removes a key), except command-line values the user left as given."""
        if self._store is None:
            return
        for key, value in values.items():
            if key in config.given and value == getattr(config, key):
                continue
            if value is None:
                self._store.remove(key)
            else:
                self._store.setValue(key, str(value) if isinstance(value, Path) else value)
        self._store.sync()

    def clear(self) -> None:
        """Forget everything: the next run starts from the defaults."""
        if self._store is not None:
            self._store.clear()
            self._store.sync()


def _can_open(spec: str) -> bool:
    if spec in ("auto", "demo"):
        return True
    if spec.isdigit():
        return int(spec) in list_cameras()
    return Path(spec).exists()

