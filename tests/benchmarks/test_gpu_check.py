"""The prepared GPU check runs without a GPU too: a tiny config, figures labelled CPU figures."""
from __future__ import annotations

import json

import torch

from detector.bench import main as bench_main


def test_the_gpu_check_runs_on_cpu_with_the_tiny_config_and_says_so(tmp_path, capsys):
    # given no GPU (forced: the test means the CPU path even on a machine with CUDA)
    torch.set_num_threads(1)
    out = tmp_path / "gpu_check.json"

    # when the check runs with one timed step per row
    bench_main(["--gpu-check", "--tiny", "--device", "cpu", "--steps", "1", "--out", str(out)])

    # then it says the figures are CPU figures and prints a markdown table of every row
    printed = capsys.readouterr().out
    assert "CPU FIGURES, NOT GPU FIGURES" in printed
    assert "| model | batches from | AMP | img/s | s/step | peak GPU memory MiB | GPU idle |" in printed
    result = json.loads(out.read_text())
    assert not result["cuda"] and result["tiny"] and result["imgsz"] == 128
    kinds = [(row["row"], row["workers"]) for row in result["rows"]]
    assert kinds == [("train", None), ("fed", 0), ("fed", 2), ("reference", None)], result["notes"]
    assert all(row["images_per_s"] > 0 and row["peak_memory_mb"] is None for row in result["rows"])
    assert all(0 <= row["gpu_idle_fraction"] <= 1 for row in result["rows"] if row["row"] == "fed")
