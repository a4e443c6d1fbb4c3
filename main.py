"""DIR-Net live 3D hand tracker: `python main.py [--source ...] [--headless] ...` (see --help)."""
from __future__ import annotations

import signal
import sys

from app import startup  # noqa: F401  first: its import time is the start-up clock's zero
from app.config import parse_args


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if config.headless:
        from app.headless import run_headless
        return run_headless(config)

    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app)
    window = MainWindow(config)
    # Ctrl+C / SIGTERM close the window (finalising any recording) from the event loop, never from
    # inside whatever Python code the signal interrupted.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: QTimer.singleShot(0, window.close))
    window.show()
    window.start()
    code = app.exec()
    window.stop_threads()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    del window  # widgets (and their GL context) must go before the QApplication does
    return code


if __name__ == "__main__":
    sys.exit(main())
