"""DIR-Net live 3D hand tracker: `python main.py [--source ...] [--headless] ...` (see --help)."""
from __future__ import annotations

import signal
import sys

from app.config import parse_args


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if config.headless:
        from app.headless import run_headless
        return run_headless(config)

    from PyQt6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.theme import apply_theme

    app = QApplication(sys.argv[:1])
    apply_theme(app)
    window = MainWindow(config)
    signal.signal(signal.SIGINT, lambda *_: window.close())  # Ctrl+C finalises recordings too
    signal.signal(signal.SIGTERM, lambda *_: window.close())
    window.show()
    window.start()
    code = app.exec()
    window.stop_threads()
    return code


if __name__ == "__main__":
    sys.exit(main())
