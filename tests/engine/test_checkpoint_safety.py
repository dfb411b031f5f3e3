"""Checkpoints load with weights_only=True: no code runs from a file; corrupt tensors are named."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch

from detector.engine import replay
from detector.engine.checkpoint import CheckpointError, CheckpointManager, read_checkpoint, resolve_resume
from detector.engine.trainer import train
from tests.engine.conftest import tiny_config


class _Payload:
    """What an attacker pickles: unpickling it would run a shell command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _state(step: int, value: float = 1.0) -> dict:
    return {"model": {"w": torch.full((3,), value)}, "optimizer": {"state": {}, "param_groups": []},
            "scheduler": {}, "rng": {}, "step": step, "config": {}}


def test_a_checkpoint_carrying_code_is_refused_and_the_code_never_runs(tmp_path):
    # given a .pt whose pickle would create a marker file when loaded
    marker = tmp_path / "pwned"
    evil = tmp_path / "step_00000007.pt"
    torch.save({**_state(7), "extra": _Payload(marker)}, evil)
    # when it is read as a checkpoint (train.py --resume) or replayed as a dump
    with pytest.raises(CheckpointError, match="refused: it holds pickled Python objects"):
        read_checkpoint(evil)
    assert replay.main([str(evil)]) == 2
    # then nothing ran
    assert not marker.exists()


def test_a_checkpoint_with_nan_weights_is_named_corrupt_and_the_previous_one_is_used(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=3)
    manager.save(_state(0), 0)
    manager.save(_state(5, value=float("nan")), 5)
    with pytest.raises(CheckpointError, match="step_00000005.pt is corrupt: 1 tensor.*inf/NaN.*model.w"):
        read_checkpoint(manager.dir / "step_00000005.pt")
    with pytest.warns(UserWarning, match="step_00000005.pt is corrupt.*falling back"):
        state, path = resolve_resume("auto", tmp_path)
    assert state["step"] == 0 and path.name == "step_00000000.pt"


def test_leftover_temp_files_of_a_killed_checkpoint_write_are_removed_at_start(dsv2_root, tmp_path):
    cfg = tiny_config(dsv2_root, tmp_path, train={"epochs": 1, "steps_per_epoch": 2})
    first = train(cfg)
    checkpoints = Path(first["run_dir"]) / "checkpoints"
    leftover = checkpoints / ".step_00000002.pt.abc123.tmp"
    leftover.write_bytes(b"half a checkpoint")
    train(cfg, resume="auto")
    assert not leftover.exists()


def test_training_checkpoints_load_with_weights_only(dsv2_root, tmp_path):
    result = train(tiny_config(dsv2_root, tmp_path, train={"epochs": 1, "steps_per_epoch": 2}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state = torch.load(result["last_checkpoint"], map_location="cpu", weights_only=True)
    assert state["step"] == 2 and "python" in state["rng"]
