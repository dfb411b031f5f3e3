"""The single most useful correctness test: a tiny model memorises two real crops."""
from __future__ import annotations

import pytest
import torch
from torchvision.ops import box_iou


def assert_finds_every_symbol(run) -> None:
    """Every ground-truth symbol has a same-class detection at IoU >= 0.5 and score > 0.3,
    and every detection above 0.5 lies on a symbol (a second class on the same notehead is allowed:
    "on line" vs "in space" is the last thing a 120-step model gets right)."""
    with torch.no_grad():
        detections = run.model(run.images)
    for found, target in zip(detections, run.targets):
        confident = found["scores"] > 0.3
        boxes, labels = found["boxes"][confident], found["labels"][confident]
        iou = box_iou(target["boxes"], boxes)  # [N_gt, K]
        same_class = target["labels"][:, None] == labels[None, :]
        assert ((iou >= 0.5) & same_class).any(dim=1).all()
        sure = found["scores"][confident] > 0.5
        assert (iou.max(dim=0).values[sure] >= 0.5).all()  # and nothing sure off the symbols


def test_fcos_model_overfits_two_real_crops_and_then_detects_their_symbols(overfit_fcos):
    # given two 160 px crops of the real page (noteheads, dots, a flag) and a tiny model
    # trained on random windows of a 2 x 2 mosaic of them (fixture)
    run = overfit_fcos
    assert sum(len(t["boxes"]) for t in run.targets) >= 8
    # then the loss has collapsed
    assert run.last_losses["loss_cls"] < 0.1 * run.first_losses["loss_cls"]
    assert run.last_losses["loss_box"] < 0.15
    # and every symbol is found with its class
    assert_finds_every_symbol(run)


@pytest.mark.slow  # a second ~10 s training run (~45 s on the loaded shared machine)
def test_atss_model_overfits_two_real_crops_too(overfit_atss):
    run = overfit_atss
    assert run.last_losses["loss_cls"] < 0.1 * run.first_losses["loss_cls"]
    assert_finds_every_symbol(run)
