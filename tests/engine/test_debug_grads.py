"""--debug-grads names where the first non-finite value appeared, dumps the step; replay re-runs it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from detector.engine import replay
from detector.engine.trainer import TrainHooks, train
from tests.engine.conftest import read_jsonl, tiny_config

# detect_anomaly's forward traceback is replay's output to the user, not noise in the test log
pytestmark = pytest.mark.filterwarnings("ignore:Error detected in .*Backward:UserWarning")


def test_inf_pixels_are_traced_to_the_batch_dumped_and_replayed(dsv2_root, tmp_path, capsys):
    def inf_pixels(step, images, targets):
        if step == 2:
            images = images.clone()
            images[0, 0, :4, :4] = float("inf")
        return images

    cfg = tiny_config(dsv2_root, tmp_path, train={"epochs": 1, "steps_per_epoch": 4})
    result = train(cfg, debug_grads=True, hooks=TrainHooks(on_batch=inf_pixels))
    run_dir = Path(result["run_dir"])

    # per-layer statistics every step
    stats = read_jsonl(run_dir / "debug_grads.jsonl")
    assert [s["step"] for s in stats] == [0, 1, 2, 3]
    assert "backbone.body.stem.0.weight" in stats[0]["grad_norm"] and stats[0]["activations"]

    # the diagnosis names the input batch; the dump holds what a replay needs
    event = next(e for e in read_jsonl(run_dir / "events.jsonl") if e["kind"] == "debug_grads")
    assert "input batch: images hold 16 non-finite pixel(s)" in event["message"]
    dump = Path(event["dump"])
    assert dump.parent == run_dir / "nan_dumps" and dump.name == "step_00000002.pt"

    # replay reproduces the step under detect_anomaly and names the first offending op
    capsys.readouterr()
    assert replay.main([str(dump)]) == 0
    out = capsys.readouterr().out
    assert "replaying step 2" in out and "first offending backward operation: Function '" in out
    assert json.dumps(result["skipped_steps"]) == "1"
