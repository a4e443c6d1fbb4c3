"""Command-line parsing into AppConfig."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.config import AppConfig, parse_args


def test_defaults_and_flags():
    cfg = parse_args([])
    assert cfg == AppConfig()
    cfg = parse_args(["--headless", "--source", "demo", "--max-frames", "5", "--record", "out",
                      "--exit", "variance", "--tau-var", "12.5", "--tau-gate", "2", "--max-loops", "3",
                      "--resolution", "640x480", "--no-smoothing", "--weights", "w.safetensors"])
    assert (cfg.source, cfg.max_frames, cfg.record, cfg.exit_mode) == ("demo", 5, Path("out"), "variance")
    assert (cfg.tau_var, cfg.tau_gate, cfg.max_loops, cfg.width, cfg.height) == (12.5, 2.0, 3, 640, 480)
    assert not cfg.smoothing and cfg.weights == Path("w.safetensors")


def test_screenshot_implies_a_frame_count():
    assert parse_args(["--screenshot", "s.png"]).max_frames == 30


@pytest.mark.parametrize("argv", [["--exit", "sometimes"], ["--resolution", "big"], ["--max-frames", "0"],
                                  ["--headless", "--screenshot", "x.png"]])
def test_bad_values_end_with_one_usage_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err
