"""The model's forward contract: losses in training, detections in eval, clear input errors."""
from __future__ import annotations

import pytest
import torch

from detector.config import ModelConfig
from detector.model import build_model


def tiny_model():
    torch.manual_seed(0)
    return build_model(ModelConfig(width=0.25, fpn_levels=[2, 3], fpn_channels=16, head_convs=1), num_classes=3)


def test_training_on_an_image_without_symbols_gives_finite_losses():
    model = tiny_model().train()
    targets = [{"boxes": torch.zeros((0, 4)), "labels": torch.zeros(0, dtype=torch.long)}]
    losses = model(torch.ones(1, 1, 64, 64), targets)
    assert set(losses) == {"loss_cls", "loss_box", "loss_ctr"}
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses["loss_box"].detach()) == 0.0
    sum(losses.values()).backward()


def test_a_degenerate_box_is_an_error_that_names_the_box():
    model = tiny_model().train()
    targets = [{"boxes": torch.tensor([[10.0, 10.0, 20.0, 20.0], [30.0, 5.0, 30.0, 15.0]]), "labels": torch.tensor([0, 1])}]
    with pytest.raises(ValueError, match=r"invalid box \[30.0, 5.0, 30.0, 15.0\] in target 0"):
        model(torch.ones(1, 1, 64, 64), targets)


def test_eval_returns_at_most_max_detections_per_image_in_input_pixels():
    model = tiny_model().eval()
    with torch.no_grad():
        found = model(torch.rand(2, 1, 96, 80))
    assert len(found) == 2
    for result in found:
        assert len(result["boxes"]) <= model.model_cfg.max_detections
        if len(result["boxes"]):
            assert result["boxes"][:, [0, 2]].max() <= 80 and result["boxes"][:, [1, 3]].max() <= 96


def test_a_colour_batch_is_a_one_line_error():
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]"):
        tiny_model().eval()(torch.ones(1, 3, 32, 32))
