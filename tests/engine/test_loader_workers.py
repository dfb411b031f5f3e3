"""DataLoader workers change when a batch is ready, never what it holds: same losses, exact resume."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from detector.data.loader import BatchStream, StepBatchSampler, build_loader
from detector.engine.trainer import TrainHooks, train
from tests.engine.conftest import read_jsonl, tiny_config, tiny_values
from tests.engine.test_resume import _losses_by_step, _train_py, kill_after_checkpoint

SHORT = {"train": {"epochs": 2, "steps_per_epoch": 3}, "checkpoint": {"every_steps": 2}}


class _Counting(torch.utils.data.Dataset):
    """Sample ``i`` is the tensor ``[i]``: a batch shows which indices it was cut from."""

    def __len__(self) -> int:
        return 1000

    def __getitem__(self, index: int):
        return torch.tensor([float(index)]), {"index": torch.tensor(index)}


def _indices(images: torch.Tensor) -> list[int]:
    return [int(v) for v in images.flatten()]


def test_the_stream_yields_the_micro_batch_asked_for_in_order_after_a_skip_and_after_going_back():
    # given a stream of micro-batches of 2 samples over 2 workers
    sampler = StepBatchSampler(lambda m: [2 * m, 2 * m + 1], stop=50)
    stream = BatchStream(build_loader(_Counting(), sampler, num_workers=2, pin_memory=False))
    try:
        # when the loop asks in order, skips a batch, goes back (a rollback) and jumps (a resume)
        asked = [0, 1, 2, 4, 1, 2, 30]
        got = [_indices(stream.get(m)[0]) for m in asked]
    finally:
        stream.close()
    # then each answer is that micro-batch's indices, and only going back and jumping restart it
    assert got == [[2 * m, 2 * m + 1] for m in asked]
    assert stream.restarts == 3  # the start, the rollback, the jump


def test_two_workers_train_with_the_losses_of_none(dsv2_root, tmp_path):
    # given the same tiny run with crops cut in-process and by 2 worker processes
    runs = {}
    for workers in (0, 2):
        config = tiny_config(dsv2_root, tmp_path / f"w{workers}", data={"num_workers": workers}, **SHORT)
        result = train(config)
        runs[workers] = {r["step"]: r["loss"] for r in read_jsonl(Path(result["run_dir"]) / "losses.jsonl")}
    # then every step's loss is the same, bit for bit
    assert len(runs[0]) == 6
    assert runs[2] == runs[0]


def test_more_workers_than_cores_are_capped_with_one_note(dsv2_root, tmp_path, capsys):
    # given a config asking for far more worker processes than this machine has cores
    config = tiny_config(dsv2_root, tmp_path / "many", data={"num_workers": 64}, **SHORT)
    result = train(config)
    # then one note says how many are used, and the run is a normal one
    out = capsys.readouterr()
    assert (out.out + out.err).count("note: data.num_workers 64 > ") == 1
    assert len(read_jsonl(Path(result["run_dir"]) / "losses.jsonl")) == 6


def test_a_skipped_batch_and_a_rollback_with_workers_match_in_process(dsv2_root, tmp_path):
    # given a NaN pushed into the step-3 batch: the guard skips it twice, then rolls back
    def poison(step, images, targets):
        return images * float("nan") if step == 3 else images

    runs = {}
    for workers in (0, 2):
        config = tiny_config(dsv2_root, tmp_path / f"w{workers}", data={"num_workers": workers},
                             guard={"max_bad_steps": 1, "window": 10}, **SHORT)
        result = train(config, hooks=TrainHooks(on_batch=poison))
        assert result["rollbacks"] == 1
        runs[workers] = [(r["step"], r["loss"]) for r in read_jsonl(Path(result["run_dir"]) / "losses.jsonl")]
    # then the replayed steps after the rollback see the same batches
    assert runs[2] == runs[0]


@pytest.mark.slow  # two train.py processes with 2 workers each: ~30-60 s on 2 shared cores
def test_sigkill_then_resume_with_two_workers_gives_the_losses_of_an_in_process_run(dsv2_root, tmp_path):
    # given an uninterrupted run without workers
    sections = {"train": {"epochs": 2, "steps_per_epoch": 6}, "checkpoint": {"every_steps": 4}}
    reference = train(tiny_config(dsv2_root, tmp_path / "reference", **sections))
    expected = _losses_by_step(Path(reference["run_dir"]))

    # when a run with 2 DataLoader workers is SIGKILLed right after its step-4 checkpoint...
    config = tmp_path / "killed.yaml"
    values = tiny_values(dsv2_root, tmp_path / "killed", data={"num_workers": 2}, **sections)
    config.write_text(yaml.safe_dump(values))
    run_dir = tmp_path / "killed" / "tiny"
    process = _train_py(config)
    kill_after_checkpoint(process, run_dir, 4)
    assert len(_losses_by_step(run_dir)) < 12  # it really died mid-run

    # ...and resumed with --resume auto, again with 2 workers
    resumed = _train_py(config, "--resume", "auto")
    output, _ = resumed.communicate(timeout=180)
    assert resumed.returncode == 0, output

    # then every step's loss equals the in-process, uninterrupted run's
    assert _losses_by_step(run_dir) == expected
