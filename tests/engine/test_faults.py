"""Injected faults: each ends with finite weights, a finished run, and the guard's action logged."""
from __future__ import annotations

import torch

from detector.engine.trainer import TrainHooks, train
from tests.engine.conftest import checkpoint_weights_finite, read_jsonl, tiny_config

FAULT_STEP = 5


def _events(result: dict) -> list[dict]:
    return read_jsonl(f"{result['run_dir']}/events.jsonl")


def test_an_image_with_inf_pixels_is_skipped(dsv2_root, tmp_path):
    def inf_pixels(step, images, targets):
        if step == FAULT_STEP:
            images = images.clone()
            images[0, 0, 10:20, 10:20] = float("inf")
        return images

    result = train(tiny_config(dsv2_root, tmp_path), hooks=TrainHooks(on_batch=inf_pixels))
    assert result["steps"] == 12 and result["skipped_steps"] == 1
    assert checkpoint_weights_finite(result["last_checkpoint"])
    bad = [e for e in _events(result) if e["kind"] == "nonfinite"]
    assert [e["step"] for e in bad] == [FAULT_STEP] and "non-finite loss" in bad[0]["message"]
    statuses = {r["step"]: r["status"] for r in read_jsonl(f"{result['run_dir']}/losses.jsonl")}
    assert statuses[FAULT_STEP] == "skip" and statuses[FAULT_STEP + 1] == "ok"


def test_an_lr_spike_x1000_is_rolled_back_with_a_lower_lr(dsv2_root, tmp_path):
    spiked = []

    def lr_spike(step, optimizer):
        if step == FAULT_STEP and not spiked:  # once: the replay after the rollback is clean
            spiked.append(step)
            for group in optimizer.param_groups:
                group["lr"] *= 1000

    result = train(tiny_config(dsv2_root, tmp_path), hooks=TrainHooks(before_update=lr_spike))
    assert result["steps"] == 12 and result["rollbacks"] == 1
    assert checkpoint_weights_finite(result["last_checkpoint"])
    rollback = next(e for e in _events(result) if e["kind"] == "rollback")
    assert rollback["to_step"] <= FAULT_STEP  # back to weights from before the spiked update
    assert "lr x0.5" in rollback["message"]
    skipped = [e["step"] for e in _events(result) if e["kind"] == "skip_batch"]
    assert skipped == rollback["skip"]
    last = read_jsonl(f"{result['run_dir']}/losses.jsonl")[-1]
    assert last["loss"] < 100  # the run recovered

    # the replayed steps continue the loss curve to the right: TensorBoard's x never repeats
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(result["run_dir"], size_guidance={"scalars": 0})
    events.Reload()
    xs = [point.step for point in events.Scalars("loss/loss")]
    assert xs == list(range(len(xs))) and len(xs) > 12


def test_a_forward_hook_returning_nan_once_is_skipped(dsv2_root, tmp_path):
    fired = []

    def nan_once(module, inputs, output):
        if module.training and not fired:
            fired.append(True)
            return output * float("nan")
        return None

    def on_model(model):
        first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
        first_conv.register_forward_hook(nan_once)

    result = train(tiny_config(dsv2_root, tmp_path), hooks=TrainHooks(on_model=on_model))
    assert result["steps"] == 12 and result["skipped_steps"] == 1 and result["rollbacks"] == 0
    assert checkpoint_weights_finite(result["last_checkpoint"])
    assert [e["step"] for e in _events(result) if e["kind"] == "nonfinite"] == [0]


def test_repeated_failures_roll_back_then_stop_with_advice(dsv2_root, tmp_path):
    import pytest

    from detector.engine.guard import TrainingDiverged

    broken = []  # from step 2 on, the first conv's output is inf: a model fault (finite data)

    def mark_step(step, images, targets):
        if step >= 2:
            broken.append(step)
        return images

    def inf_output(module, inputs, output):
        return output * float("inf") if module.training and broken else None

    def on_model(model):
        next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d)).register_forward_hook(inf_output)

    cfg = tiny_config(dsv2_root, tmp_path, guard={"max_bad_steps": 1, "max_rollbacks": 1})
    with pytest.raises(TrainingDiverged, match="1 rollback.*Try: a lower train.lr0"):
        train(cfg, hooks=TrainHooks(on_batch=mark_step, on_model=on_model))
    kinds = [e["kind"] for e in read_jsonl(tmp_path / "tiny" / "events.jsonl")]
    assert "rollback" in kinds and kinds[-1] == "stop"


def test_persistent_nan_pixels_stop_with_a_message_that_blames_the_data_not_the_lr(dsv2_root, tmp_path):
    import pytest

    from detector.engine.guard import TrainingDiverged

    def always_inf(step, images, targets):
        return images * float("inf") if step >= 2 else images

    cfg = tiny_config(dsv2_root, tmp_path, guard={"max_bad_steps": 1, "max_rollbacks": 1})
    with pytest.raises(TrainingDiverged) as stopped:
        train(cfg, hooks=TrainHooks(on_batch=always_inf))
    message = str(stopped.value)
    assert "The data is non-finite" in message and "NaN/inf pixels" in message
    assert "a lower learning rate will not help" in message and "Try: a lower train.lr0" not in message
