"""Load DIR-Net for the app: never fail hard, always say what is running.

Missing or broken weights must not stop the app: it falls back to the shipped weights (or the
untrained model the library gives when none are shipped) and returns messages for the window and
stderr.
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

__all__ = ["load_estimator"]


def load_estimator(weights: Path | None, device: str = "cpu", threads: int | None = None):
    """Load the Estimator, falling back instead of raising.

    Call it from the thread that will run the Estimator: the thread count applies to it.

    Args:
        weights: a weights path from the user, or None for the shipped ones.
        device: torch device.
        threads: CPU threads for inference; None leaves the library's default. On a 2-core laptop
            1 is best for the app: torch's spinning OpenMP workers otherwise fight MediaPipe, the
            capture thread and the UI for the same cores (measured in docs/APP.md).

    Returns:
        (estimator or None, messages): None only when even the fallback failed; messages are
        one-line explanations for the user (empty when the requested weights loaded cleanly).
    """
    from dirnet import DEFAULT_CACHE, Estimator, configure_threads  # imports torch: slow, so only here

    if threads is not None:
        configure_threads(threads)

    messages: list[str] = []
    # The library warns through both `warnings` and `logging`; collect both, report each once.
    records = _Collector()
    library_log = logging.getLogger("dirnet")
    library_log.addHandler(records)
    propagate, library_log.propagate = library_log.propagate, False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            # the fast path's graphs are cached: a start with the same weights skips the export
            estimator = Estimator.from_pretrained(weights, device=device, cache_dir=DEFAULT_CACHE)
        except (OSError, ValueError) as exc:
            messages.append(f"cannot load weights {weights}: {exc}; using the default weights")
            try:
                estimator = Estimator.from_pretrained(None, device=device, cache_dir=DEFAULT_CACHE)
            except (OSError, ValueError) as exc2:
                messages.append(f"DIR-Net unavailable: {exc2}")
                estimator = None
        finally:
            library_log.removeHandler(records)
            library_log.propagate = propagate
    for text in [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)] + records.messages:
        if text not in messages:
            messages.append(text)
    if estimator is not None and not estimator.is_trained and not any(
            "UNTRAINED" in m for m in messages):
        messages.append("running an UNTRAINED DIR-Net: poses are meaningless until weights are trained")
    return estimator, messages


class _Collector(logging.Handler):
    """Keeps the text of warning-or-worse log records."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
