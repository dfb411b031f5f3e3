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


def test_candidates_per_level_grow_with_the_image_area():
    # given an untrained model whose every (location, class) is a candidate (score_thresh below
    # the 0.01 prior) and that keeps 7 per level of a 1024 x 1024 px image
    torch.manual_seed(0)
    cfg = ModelConfig(width=0.25, fpn_levels=[2, 3], fpn_channels=16, head_convs=1, score_thresh=0.001,
                      topk_per_level=7)
    model = build_model(cfg, num_classes=3).eval()
    with torch.no_grad():
        small = model(torch.rand(1, 1, 128, 128))[0]  # 1/64 of the reference area: still 7 per level
        large = model(torch.rand(1, 1, 1024, 2048))[0]  # twice the reference area: 14 per level
    # then the large image keeps twice the candidates (the untrained boxes are one stride wide
    # and touch without overlapping, so NMS removes none of them)
    assert len(small["boxes"]) == 2 * 7
    assert len(large["boxes"]) == 2 * 14
