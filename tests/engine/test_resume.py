"""SIGKILL a real train.py process after a checkpoint; --resume auto repeats the losses exactly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from detector.engine.trainer import train
from tests.conftest import REPO_ROOT
from tests.engine.conftest import read_jsonl, tiny_config, tiny_values

SECTIONS = {"train": {"epochs": 2, "steps_per_epoch": 6}, "checkpoint": {"every_steps": 4}}


def _losses_by_step(run_dir: Path) -> dict[int, float]:
    return {r["step"]: r["loss"] for r in read_jsonl(run_dir / "losses.jsonl")}


def _train_py(config: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "train.py", "--config", str(config), *extra], cwd=REPO_ROOT,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow  # two train.py processes: ~30-60 s on 2 shared cores
def kill_after_checkpoint(process: subprocess.Popen, run_dir: Path, step: int,
                          timeout_s: float = 120.0) -> None:
    """SIGKILL a training process as soon as its checkpoint of ``step`` exists (fails if it dies first)."""
    deadline = time.time() + timeout_s
    while not (run_dir / "checkpoints" / f"step_{step:08d}.pt").exists():
        alive = process.poll() is None and time.time() < deadline
        assert alive, process.stdout.read() if process.stdout else ""
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_sigkill_then_resume_auto_gives_the_same_losses_step_for_step(dsv2_root, tmp_path):
    # given an uninterrupted reference run
    reference = train(tiny_config(dsv2_root, tmp_path / "reference", **SECTIONS))
    expected = _losses_by_step(Path(reference["run_dir"]))
    assert len(expected) == 12

    # when the same run is SIGKILLed right after its step-4 checkpoint...
    config = tmp_path / "killed.yaml"
    config.write_text(yaml.safe_dump(tiny_values(dsv2_root, tmp_path / "killed", **SECTIONS)))
    run_dir = tmp_path / "killed" / "tiny"
    process = _train_py(config)
    kill_after_checkpoint(process, run_dir, 4)
    assert process.returncode == -signal.SIGKILL
    assert len(_losses_by_step(run_dir)) < 12  # it really died mid-run

    # ...and resumed with --resume auto
    resumed = _train_py(config, "--resume", "auto")
    output, _ = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, output
    assert "resumed from" in output

    # then every step's loss equals the uninterrupted run's
    assert _losses_by_step(run_dir) == expected
