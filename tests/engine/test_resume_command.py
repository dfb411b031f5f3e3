"""The command printed after Ctrl-C continues the run the way it was started."""
from __future__ import annotations

from detector.engine.cli import resume_command


def test_a_single_process_run_continues_with_python(monkeypatch):
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert resume_command("configs/quickstart.yaml", ["train.lr0=0.01"], "quick") == (
        "python train.py --config configs/quickstart.yaml --set train.lr0=0.01 --run-name quick "
        "--resume auto")


def test_a_torchrun_run_continues_with_torchrun_and_as_many_processes(monkeypatch):
    # torchrun sets these in every rank's environment
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    assert resume_command("configs/stage2.yaml", [], "stage2") == (
        "torchrun --nproc_per_node 2 train.py --config configs/stage2.yaml --run-name stage2 --resume auto")
