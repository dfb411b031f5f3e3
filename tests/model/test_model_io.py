"""Checkpoints: save, load, identical outputs; unusable files raise CheckpointError."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from detector.config import Config
from detector.model import CheckpointError, load_model, save_model

CLASS_NAMES = ["noteheadBlackOnLine", "noteheadBlackInSpace", "augmentationDot", "flag8thDown"]


def detections(model, images):
    with torch.no_grad():
        return model.eval()(images)


def saved(overfit_fcos, path, half=False) -> None:
    cfg = Config(model=dataclasses.replace(overfit_fcos.model_cfg))
    cfg.data.classes = list(CLASS_NAMES)
    save_model(path, overfit_fcos.model, cfg, CLASS_NAMES, half=half)


def test_save_then_load_rebuilds_the_model_from_the_checkpoint_alone(overfit_fcos, tmp_path):
    # given the overfitted model saved with its config
    path = tmp_path / "model.pt"
    saved(overfit_fcos, path)
    # when loaded back (no config given)
    model, cfg, class_names = load_model(path)
    # then it is the same model: same config, classes and identical outputs
    assert class_names == CLASS_NAMES
    assert cfg.model == overfit_fcos.model_cfg
    before, after = detections(overfit_fcos.model, overfit_fcos.images), detections(model, overfit_fcos.images)
    for one, other in zip(before, after):
        for key in ("boxes", "scores", "labels"):
            assert torch.equal(one[key], other[key])
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file


def test_half_checkpoint_is_smaller_and_detects_the_same_symbols(overfit_fcos, tmp_path):
    saved(overfit_fcos, tmp_path / "full.pt")
    saved(overfit_fcos, tmp_path / "half.pt", half=True)
    assert (tmp_path / "half.pt").stat().st_size < 0.7 * (tmp_path / "full.pt").stat().st_size
    model, _, _ = load_model(tmp_path / "half.pt")
    assert next(model.parameters()).dtype == torch.float32
    before, after = detections(overfit_fcos.model, overfit_fcos.images), detections(model, overfit_fcos.images)
    for one, other in zip(before, after):
        confident = one["scores"] > 0.3
        assert torch.allclose(one["boxes"][confident], other["boxes"][: int(confident.sum())], atol=0.5)


def test_a_training_checkpoint_with_optimizer_state_loads_too(overfit_fcos, tmp_path):
    path = tmp_path / "train.pt"
    saved(overfit_fcos, path)
    checkpoint = torch.load(path, weights_only=True)
    optimizer = torch.optim.SGD(overfit_fcos.model.parameters(), lr=0.01, momentum=0.9)
    checkpoint.update(optimizer=optimizer.state_dict(), step=7, epoch=0, metrics={"map": 0.1})
    torch.save(checkpoint, path)
    model, _, class_names = load_model(path)
    assert class_names == CLASS_NAMES


def test_a_truncated_checkpoint_raises_checkpoint_error(overfit_fcos, tmp_path):
    path = tmp_path / "model.pt"
    saved(overfit_fcos, path)
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CheckpointError, match="unreadable") as error:
        load_model(path)
    assert "\n" not in str(error.value)


def test_a_missing_checkpoint_raises_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "nothing.pt")


def test_export_stores_the_chosen_operating_threshold_and_rejects_a_bad_one(overfit_fcos, tmp_path, capsys):
    from detector.model.export import main as export_main

    saved(overfit_fcos, tmp_path / "train.pt")
    assert export_main([str(tmp_path / "train.pt"), str(tmp_path / "out.pt"), "--half", "--score-thresh", "0.45"]) == 0
    _, cfg, class_names = load_model(tmp_path / "out.pt")
    assert cfg.eval.score_thresh == 0.45 and class_names == CLASS_NAMES
    assert export_main([str(tmp_path / "train.pt"), str(tmp_path / "bad.pt"), "--score-thresh", "5"]) == 2
    assert "between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "bad.pt").exists()
