"""A real 2-process torchrun (gloo, CPU) matches one process on the combined batch."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from detector.engine.trainer import train
from tests.conftest import REPO_ROOT
from tests.engine.conftest import read_jsonl, tiny_config, tiny_values

SECTIONS = {"train": {"epochs": 1, "steps_per_epoch": 3, "batch_size": 1, "warmup_epochs": 0},
            "checkpoint": {"every_steps": 3}}


@pytest.mark.slow  # a real torchrun with 2 processes: ~30-50 s on 2 shared cores
def test_two_process_gradients_match_one_process_on_the_combined_batch(dsv2_root, tmp_path):
    # given 2 processes with batch 1 each (rank r takes sample 2m + r of micro-batch m)
    config = tmp_path / "ddp.yaml"
    config.write_text(yaml.safe_dump(tiny_values(dsv2_root, tmp_path / "ddp", **SECTIONS)))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node", "2",
                          "train.py", "--config", str(config)], cwd=REPO_ROOT, env=env, capture_output=True,
                         text=True, timeout=180)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    # and one process with batch 2 over the same samples
    single = train(tiny_config(dsv2_root, tmp_path / "single", train={**SECTIONS["train"], "batch_size": 2},
                               checkpoint=SECTIONS["checkpoint"]))

    # then every step's loss and pre-clip gradient norm (of the rank-averaged gradient) agree
    ddp_run, single_run = tmp_path / "ddp" / "tiny", Path(single["run_dir"])
    ddp_steps, single_steps = read_jsonl(ddp_run / "losses.jsonl"), read_jsonl(single_run / "losses.jsonl")
    assert len(ddp_steps) == len(single_steps) == 3
    for a, b in zip(ddp_steps, single_steps):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5)
        assert a["grad_norm"] == pytest.approx(b["grad_norm"], rel=1e-4)
    # and so do the weights after three updates (rank 0 alone saved them)
    ddp_weights = torch.load(ddp_run / "checkpoints" / "step_00000003.pt", weights_only=False)["model"]
    single_weights = torch.load(single["last_checkpoint"], weights_only=False)["model"]
    for name, value in single_weights.items():
        if name.endswith("num_positive_avg"):  # the loss normaliser averages per rank: 1/W of the total
            torch.testing.assert_close(ddp_weights[name] * 2, value)
        else:
            torch.testing.assert_close(ddp_weights[name], value, rtol=1e-4, atol=1e-6)
    # rank 0 alone logged
    assert len(list(ddp_run.glob("events.out.tfevents.*"))) == 1
