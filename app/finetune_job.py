"""FinetuneJob: `python -m dirnet.finetune` on a recording, in a child process.

A child process, not a thread: the fine-tune then never holds the window's GIL, runs at a lower
priority with one torch thread (tracking keeps the other core), and Cancel is a SIGTERM after
which the fine-tune removes everything it wrote. Progress arrives as the JSON lines of
`--progress-json` on the child's stdout.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from PyQt6.QtCore import QObject, QProcess, QTimer, pyqtSignal

__all__ = ["FinetuneJob"]

_NICE = 10  # the child's niceness: the live tracking comes first
_CANCEL_GRACE_MS = 30_000  # a cancelled child cleans up and exits; killed if it takes longer


class FinetuneJob(QObject):
    """One fine-tune at a time.

    Signals:
        progress(fraction, eta_s, message): share done, seconds left (-1 unknown), a line for people.
        finished(out): the weights folder was written.
        failed(message): one line: the fine-tune refused, failed, or was cancelled.
    """

    progress = pyqtSignal(float, float, str)
    finished = pyqtSignal(str)
    failed = pyqtSignal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._out: Path | None = None
        self._errors: list[str] = []
        self._cancelled = False

    def is_running(self) -> bool:
        return self._process is not None

    def is_cancelling(self) -> bool:
        return self._process is not None and self._cancelled

    def start(self, session: Path, out: Path, minutes: float, weights: Path | None = None) -> None:
        """Fine-tune the weights in use (None: the shipped ones) on `session` into `out`."""
        assert self._process is None, "one fine-tune at a time"
        args = ["-m", "dirnet.finetune", str(session), "--out", str(out), "--minutes", f"{minutes:g}",
                "--progress-json", "--threads", "1", "--nice", str(_NICE), "--no-checks"]
        if weights is not None:
            args += ["--weights", str(weights)]
        self._out, self._errors, self._cancelled = out, [], False
        process = QProcess(self)
        process.readyReadStandardOutput.connect(self._read_progress)
        process.readyReadStandardError.connect(self._read_errors)
        process.finished.connect(self._done)
        process.errorOccurred.connect(self._process_error)
        self._process = process
        process.start(sys.executable, args)

    def cancel(self) -> None:
        """Stop the run without waiting: the child deletes what it wrote, then `failed` says it was
        cancelled. A child that has not exited after a grace period is killed."""
        process = self._process
        if process is None or self._cancelled:
            return
        self._cancelled = True
        process.terminate()
        QTimer.singleShot(_CANCEL_GRACE_MS, lambda: process.kill() if process is self._process else None)

    def stop(self) -> None:
        """Cancel and wait for the child to exit (the window is closing)."""
        process = self._process
        self.cancel()
        if process is not None and not process.waitForFinished(_CANCEL_GRACE_MS):
            process.kill()
            process.waitForFinished(_CANCEL_GRACE_MS)

    def _read_progress(self) -> None:
        while self._process is not None and self._process.canReadLine():
            line = bytes(self._process.readLine()).decode("utf-8", "replace").strip()
            try:
                report = json.loads(line)
                eta = report["eta_s"]
                self.progress.emit(float(report["fraction"]), -1.0 if eta is None else float(eta),
                                   str(report["message"]))
            except (ValueError, KeyError, TypeError):
                continue  # a line that is not a progress report (the summary goes to stderr)

    def _read_errors(self) -> None:
        text = bytes(self._process.readAllStandardError()).decode("utf-8", "replace")
        self._errors = (self._errors + [line for line in text.splitlines() if line.strip()])[-20:]

    def _done(self, code: int, _status) -> None:
        self._read_progress()
        self._read_errors()
        self._process.deleteLater()
        self._process = None
        if self._cancelled:
            # a child killed before its own clean-up leaves its hidden work folder: remove it
            for leftover in self._out.parent.glob(f".{self._out.name}.tmp-*"):
                shutil.rmtree(leftover, ignore_errors=True)
            self.failed.emit("fine-tune cancelled; nothing written")
        elif code == 0:
            self.finished.emit(str(self._out))
        else:
            errors = [line[len("error: "):] for line in self._errors if line.startswith("error: ")] or self._errors
            self.failed.emit(errors[-1] if errors else f"fine-tune failed (exit status {code})")

    def _process_error(self, error) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            self._process.deleteLater()
            self._process = None
            self.failed.emit(f"cannot start the fine-tune: {sys.executable} -m dirnet.finetune")
