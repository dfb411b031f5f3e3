"""train.py's command line: help, and one-line errors (exit 2) for user mistakes."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "train.py", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)


def test_a_config_typo_is_a_one_line_error_naming_the_nearest_key():
    result = _run("--config", "configs/quickstart.yaml", "--set", "train.lr=0.1")
    assert result.returncode == 2
    expected = "error: unknown config key train.lr (did you mean train.lr0?)"
    assert result.stderr.strip().splitlines() == [expected]


def test_a_missing_config_file_is_a_one_line_error():
    result = _run("--config", "configs/no_such.yaml")
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: config file not found: configs/no_such.yaml")


def test_help_explains_every_option():
    result = _run("--help")
    assert result.returncode == 0
    for option in ("--config", "--set", "--resume", "--run-name", "--debug-grads"):
        assert option in result.stdout
