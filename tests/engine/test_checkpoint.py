"""Atomic checkpoints; a corrupt or truncated latest file falls back to the previous one."""
from __future__ import annotations

import warnings

import pytest
import torch

from detector.engine.checkpoint import CheckpointError, CheckpointManager, resolve_resume
from detector.engine.trainer import train
from tests.engine.conftest import tiny_config


def _state(step: int) -> dict:
    return {"model": {"w": torch.full((3,), float(step))}, "optimizer": {}, "scheduler": {}, "rng": {},
            "step": step, "config": {}}


def test_keeps_the_last_n_plus_the_initial_checkpoint_and_no_temp_files(tmp_path):
    manager = CheckpointManager(tmp_path, keep_last=2)
    for step in (0, 5, 10, 15):
        manager.save(_state(step), step)
    names = [p.name for p in manager.step_paths()]
    assert names == ["step_00000000.pt", "step_00000010.pt", "step_00000015.pt"]
    assert not [p for p in manager.dir.iterdir() if ".tmp" in p.name]
    state, path = manager.load_latest()
    assert state["step"] == 15


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_with_a_warning(tmp_path, damage):
    manager = CheckpointManager(tmp_path, keep_last=3)
    for step in (0, 5, 10):
        manager.save(_state(step), step)
    latest = manager.dir / "step_00000010.pt"
    data = latest.read_bytes()
    latest.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00garbage" * 64)
    with pytest.warns(UserWarning, match="step_00000010.pt.*falling back"):
        state, path = resolve_resume("auto", tmp_path)
    assert state["step"] == 5 and path.name == "step_00000005.pt"


def test_resume_auto_without_any_checkpoint_is_a_one_line_error(tmp_path):
    with pytest.raises(CheckpointError, match="no usable checkpoint"):
        resolve_resume("auto", tmp_path / "missing_run")


def test_a_training_run_resumes_past_its_corrupt_last_checkpoint(dsv2_root, tmp_path):
    # given a finished run whose last checkpoint got truncated
    cfg = tiny_config(dsv2_root, tmp_path, train={"epochs": 2})
    first = train(cfg)
    last = first["last_checkpoint"]
    data = open(last, "rb").read()
    open(last, "wb").write(data[:1000])
    # when it is resumed with --resume auto
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        second = train(cfg, resume="auto")
    # then the previous checkpoint (step 6) was used, with a warning, and the run finished again
    assert any("step_00000008.pt" in str(w.message) for w in caught)
    assert second["steps"] == 8 and torch.load(second["last_checkpoint"], weights_only=False)["step"] == 8
