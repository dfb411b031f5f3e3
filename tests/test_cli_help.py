"""``--help`` answers at once: the entry points parse their arguments before importing torch.

Importing torch takes 15-25 s on the shared 2-core machine (2 s on a free one); ``--help``
and argument mistakes must not wait for it. Checked by what is imported, not by a wall
time that the machine's load would make flaky.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import runpy, sys
sys.argv = [{script!r}, *{args!r}]
try:
    runpy.run_path({script!r}, run_name="__main__")
except SystemExit as stop:
    code = stop.code
heavy = sorted(m for m in ("torch", "torchvision", "skimage", "matplotlib", "pycocotools")
               if m in sys.modules)
print("HEAVY", heavy, "EXIT", code, file=sys.stderr)
"""


def probe(script: str, *args: str) -> subprocess.CompletedProcess:
    code = PROBE.format(script=str(REPO_ROOT / script), args=list(args))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT,
                          timeout=120)


@pytest.mark.parametrize("script", ["train.py", "eval.py", "reconstruct.py"])
def test_help_imports_no_heavy_library_and_documents_every_flag(script):
    done = probe(script, "--help")
    assert "HEAVY [] EXIT 0" in done.stderr, done.stderr
    flags = [line.split()[0] for line in done.stdout.splitlines() if line.strip().startswith("--")]
    assert flags, done.stdout
    for line in done.stdout.split("options:")[1].split("\n  -")[1:]:
        assert len(line.split()) > 2, f"flag without help: {line!r}"


@pytest.mark.parametrize("script, args", [("eval.py", ["--score-thresh", "7"]),
                                          ("reconstruct.py", ["x.png"])])
def test_an_argument_mistake_is_one_line_without_importing_torch(script, args):
    done = probe(script, *args)
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == "HEAVY [] EXIT 2"
    assert len(lines) == 2 and lines[0].startswith(f"{script}: error: ") and lines[0].endswith("(see --help)")
