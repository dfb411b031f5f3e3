"""train.init_weights: a run starts from a saved model's weights (fine-tuning), or refuses one
that does not fit."""
from __future__ import annotations

import pytest
import torch

from detector.config import ConfigError
from detector.data.classes import resolve_classes
from detector.engine.trainer import TrainHooks, train
from detector.model.detector import build_model
from detector.model.model_io import CheckpointError, load_initial_weights, load_model, save_model
from tests.engine.conftest import tiny_config


def _saved_model(cfg, path, seed: int = 123):
    """A model with weights unlike a fresh init (seeded), saved in half precision as shipped."""
    torch.manual_seed(seed)
    names = list(resolve_classes(cfg.data.classes))
    model = build_model(cfg.model, len(names))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    save_model(path, model, cfg, names, half=True)
    return model, names


def test_training_starts_from_the_init_weights(dsv2_root, tmp_path):
    # given: a saved model and a config that starts from it
    base = tiny_config(dsv2_root, tmp_path / "runs")
    saved, _ = _saved_model(base, tmp_path / "start.pt")
    start = {"epochs": 1, "steps_per_epoch": 1, "init_weights": str(tmp_path / "start.pt")}
    cfg = tiny_config(dsv2_root, tmp_path / "runs", train=start)
    seen = {}

    def capture(model):
        seen.update({k: v.detach().clone() for k, v in model.state_dict().items()})

    # when: training builds its model
    train(cfg, hooks=TrainHooks(on_model=capture))
    # then: before the first step the model holds the saved weights (to fp16 precision)
    for name, tensor in saved.state_dict().items():
        assert torch.allclose(seen[name].float(), tensor.half().float()), name


def test_exported_model_loads_where_the_init_file_is_missing(dsv2_root, tmp_path):
    # given: a model whose stored config names an init file that is gone
    start = tmp_path / "start.pt"
    cfg = tiny_config(dsv2_root, tmp_path / "runs")
    _saved_model(cfg, start)
    cfg = tiny_config(dsv2_root, tmp_path / "runs", train={"init_weights": str(start)})
    _saved_model(cfg, tmp_path / "finetuned.pt")
    start.unlink()
    # when / then: it still loads (the weights are in the file itself)
    _, loaded_cfg, _ = load_model(tmp_path / "finetuned.pt")
    assert loaded_cfg.train.init_weights is None


def test_missing_file_or_other_classes_are_refused(dsv2_root, tmp_path):
    # given: a missing init file / a model trained on another class list
    with pytest.raises(ConfigError, match="train.init_weights"):
        tiny_config(dsv2_root, tmp_path / "runs", train={"init_weights": str(tmp_path / "nope.pt")})
    cfg = tiny_config(dsv2_root, tmp_path / "runs")
    _, names = _saved_model(cfg, tmp_path / "start.pt")
    model = build_model(cfg.model, len(names) - 1)
    # when / then: loading names the problem
    with pytest.raises(CheckpointError, match="classes"):
        load_initial_weights(model, tmp_path / "start.pt", names[:-1])
