"""DIR-Net live 3D hand tracker: `dirnet-app` / `python -m app` / `python main.py` (see --help)."""
from __future__ import annotations

import signal
import sys

from . import startup  # noqa: F401  first: its import time is the start-up clock's zero
from .config import parse_args


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if config.headless:
        from .headless import run_headless
        return run_headless(config)

    from PyQt6.QtCore import QTimer
    from PyQt6.QtWidgets import QApplication

    from .main_window import MainWindow
    from .theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app)
    window = MainWindow(config)
    # Ctrl+C / SIGTERM close the window (finalising any recording) from the event loop, never from
    # inside whatever Python code the signal interrupted; the exit status says it was interrupted.
    received: list[int] = []

    def interrupt(signum, _frame) -> None:
        received.append(signum)
        QTimer.singleShot(0, window.close)  # noqa: F821 - the handlers are reset before `del window`

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    window.show()
    window.start()
    code = app.exec()
    window.stop_threads()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    del window  # widgets (and their GL context) must go before the QApplication does
    return 128 + received[0] if received else code


if __name__ == "__main__":
    sys.exit(main())
