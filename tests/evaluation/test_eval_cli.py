"""eval.py end to end on the real DSv2 sample page, scoring a COCO results file."""
from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from detector.config import Config, config_to_dict
from detector.data.classes import STAGE2_CLASSES
from detector.evaluation.run import EvalInputError, run_evaluation
from detector.engine.checkpoint import capture_rng
from detector.model import build_model

REPO_ROOT = Path(__file__).resolve().parents[2]


def eval_py(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO_ROOT / "eval.py"), *args], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)


def test_eval_py_scores_a_detections_file(tmp_path, dsv2_sample_dir, perturbed_results):
    # given another detector's results on the sample page, as a COCO results file
    detections = tmp_path / "yolo_results.json"
    detections.write_text(json.dumps(perturbed_results))
    out = tmp_path / "report"
    # when eval.py scores them against the sample folder
    done = eval_py("--detections", str(detections), "--data", str(dsv2_sample_dir), "--out", str(out))
    # then it succeeds, prints the summary and writes every file
    assert done.returncode == 0, done.stderr
    assert "## Core symbols by group" in done.stdout
    for name in ("report.json", "report.md", "pr_curves.png", "confusion_matrix.png",
                 "overlays/lg-5230237-aug-emmentaler--page-2_overlay.png"):
        assert (out / name).is_file(), name
    report = json.loads((out / "report.json").read_text())
    assert report["provenance"]["detections"] == str(detections)
    assert report["provenance"]["data"].endswith("deepscores_v2_sample.json")
    assert report["provenance"]["config"]["eval"]["max_dets"] == 2000
    assert 0.75 < report["summary"]["map50"] < 1.0


def test_eval_py_missing_file_is_one_line_and_exit_2(tmp_path, dsv2_sample_dir, monkeypatch, capsys):
    # given eval.py's command line pointing at a file that is not there (run in-process:
    # a second interpreter start costs ~10 s on the shared CPU)
    missing = tmp_path / "nope.json"
    monkeypatch.setattr(sys, "argv", ["eval.py", "--detections", str(missing), "--data", str(dsv2_sample_dir)])
    # when it runs, then it exits with status 2 and one line naming the file
    with pytest.raises(SystemExit) as stop:
        runpy.run_path(str(REPO_ROOT / "eval.py"), run_name="__main__")
    assert stop.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"eval.py: error: detections file not found: {missing}"]


@pytest.mark.parametrize("bad, message", [
    ({"category_id": 42}, r"unknown class: category_id 42 \(DSv2 class 'stem'"),
    ({"image_id": 12345}, "unknown image id 12345"),
])
def test_detections_that_do_not_fit_the_data_are_named(tmp_path, dsv2_sample_dir, perturbed_results, bad, message):
    detections = tmp_path / "dets.json"
    detections.write_text(json.dumps(perturbed_results + [{**perturbed_results[0], **bad}]))
    with pytest.raises(EvalInputError, match=message):
        run_evaluation(detections=detections, data=dsv2_sample_dir, out=tmp_path / "out", verbose=False)


def test_a_missing_checkpoint_is_one_line(tmp_path, dsv2_sample_dir):
    with pytest.raises(EvalInputError, match="checkpoint not found: .*missing.pt"):
        run_evaluation(weights=tmp_path / "missing.pt", data=dsv2_sample_dir, verbose=False)


def test_eval_of_a_training_checkpoint_writes_the_report_with_its_provenance(tmp_path, corner_dataset):
    # given an (untrained) model saved as the training loop saves it: weights, config, class
    # names plus RNG states and the step (load_model reads it with weights_only=True)
    cfg = Config()
    cfg.model.width, cfg.model.fpn_channels, cfg.model.fpn_levels = 0.25, 32, [2, 3, 4]
    cfg.model.tile_size, cfg.model.tile_overlap = 512, 64
    torch.manual_seed(0)
    model = build_model(cfg.model, len(STAGE2_CLASSES))
    weights = tmp_path / "step_00000007.pt"
    torch.save({"model": model.state_dict(), "config": config_to_dict(cfg), "class_names": list(STAGE2_CLASSES),
                "code_version": "test", "rng": capture_rng(), "step": 7}, weights)
    # when eval scores it on a DSv2 folder
    report = run_evaluation(weights=weights, data=corner_dataset, out=tmp_path / "out", verbose=False, device="cpu")
    # then the report says which checkpoint, data and config gave the numbers
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["provenance"]["checkpoint"] == str(weights.resolve())
    assert saved["provenance"]["checkpoint_info"]["step"] == 7
    assert saved["provenance"]["data"] == str(corner_dataset / "deepscores_test.json")
    assert saved["provenance"]["config"]["model"]["width"] == 0.25
    assert saved["summary"]["instances"] == report.summary["instances"] > 0
    assert (tmp_path / "out" / "overlays" / "corner_overlay.png").is_file()
    # and the model's detections are saved as a COCO results file that rescores identically
    detections = tmp_path / "out" / "detections.json"
    assert json.loads(detections.read_text()) is not None
    rescored = run_evaluation(weights=weights, detections=detections, data=corner_dataset, out=tmp_path / "again",
                              verbose=False, device="cpu")
    assert rescored.summary == report.summary
