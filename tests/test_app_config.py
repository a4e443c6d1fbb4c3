"""Command-line parsing into AppConfig."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.config import DEFAULT_SETTINGS, AppConfig, parse_args


def test_defaults_and_flags():
    cfg = parse_args([])
    assert cfg == AppConfig(settings_file=DEFAULT_SETTINGS) and parse_args(["--fresh"]) == AppConfig()
    cfg = parse_args(["--headless", "--source", "demo", "--max-frames", "5", "--record", "out",
                      "--exit", "variance", "--tau-var", "12.5", "--tau-gate", "2", "--max-loops", "3",
                      "--resolution", "640x480", "--no-smoothing", "--weights", "w.safetensors",
                      "--threads", "2"])
    assert (cfg.source, cfg.max_frames, cfg.record, cfg.exit_mode) == ("demo", 5, Path("out"), "variance")
    assert (cfg.tau_var, cfg.tau_gate, cfg.max_loops, cfg.width, cfg.height) == (12.5, 2.0, 3, 640, 480)
    assert not cfg.smoothing and cfg.weights == Path("w.safetensors") and cfg.threads == 2
    # what the command line set, so that it wins over what the window remembers
    assert cfg.given == {"headless", "source", "max_frames", "record", "exit_mode", "tau_var", "tau_gate",
                         "max_loops", "width", "height", "smoothing", "weights", "threads"}
    assert parse_args(["--fps", "30", "--no-smoothing"]).given == {"fps", "smoothing"}  # even at the default


def test_screenshot_implies_a_frame_count():
    assert parse_args(["--screenshot", "s.png"]).max_frames == 30


@pytest.mark.parametrize("argv", [["--exit", "sometimes"], ["--resolution", "big"], ["--max-frames", "0"],
                                  ["--headless", "--screenshot", "x.png"], ["--threads", "0"]])
def test_bad_values_end_with_one_usage_line(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error:" in err


def _run_python(code: str) -> str:
    """stdout of `python -c code` run from the project root (fresh imports); fails on an error."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_parsing_the_command_line_imports_no_torch():
    """--help and a bad flag answer at once: the exit modes come from dirnet's torch-free exit_policy."""
    assert _run_python("import sys; from app.config import parse_args; parse_args(['--exit', 'variance']); "
                       "print('torch' in sys.modules)") == "False"


def test_headless_code_never_imports_qt():
    assert _run_python("import sys; import app.headless, app.demo, app.sources, app.detector; "
                       "print(sorted(m for m in sys.modules if m.startswith(('PyQt', 'pyqtgraph'))))") == "[]"
