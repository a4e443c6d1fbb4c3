"""What every `python -m dirnet...` command shares: its messages and its exit status.

Exit status: 0 done; 1 the command ran but failed on its data (nothing usable, nothing written);
2 it could not start: bad arguments (argparse's own usage errors are 2 as well), a bad config, or
missing or unreadable weights.

Results go to stdout. Messages go to stderr, one line each: "error: ..." for what stops the
command, "warning: ..." for what it skips, and plain lines for routine progress (logging INFO, from
the library's loggers too).
"""
from __future__ import annotations

import logging
import sys

__all__ = ["EXIT_FAILED", "EXIT_USAGE", "fail", "warn", "configure_logging"]

EXIT_FAILED = 1
EXIT_USAGE = 2

_handler: logging.Handler | None = None


def fail(message: str, status: int = EXIT_FAILED) -> int:
    """Print "error: message" to stderr; returns `status` for main() to return."""
    print(f"error: {message}", file=sys.stderr)
    return status


def warn(*messages: str) -> None:
    """Print "warning: message" to stderr, one line per message."""
    for message in messages:
        print(f"warning: {message}", file=sys.stderr)


class _Formatter(logging.Formatter):
    """INFO as the plain message; warnings and errors with the prefix `fail` and `warn` use."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


def configure_logging(level: int = logging.INFO) -> None:
    """Print log records to the current stderr: dirnet's (and a command run as `python -m`, whose
    logger is `__main__`) from `level` up, other libraries' from WARNING up.

    Called by every command's main(); calling it again replaces the handler (a test that runs
    several commands in one process sees each one's messages on its own stderr).
    """
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(_Formatter("%(message)s"))
    root.addHandler(_handler)
    root.setLevel(logging.WARNING)
    for name in ("dirnet", "__main__"):
        logging.getLogger(name).setLevel(level)
