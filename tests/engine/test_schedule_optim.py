"""Learning-rate schedule and the optimizer's parameter groups."""
from __future__ import annotations

import math

import pytest
import torch

from detector.config import ModelConfig, TrainConfig
from detector.engine.optim import build_optimizer, param_groups
from detector.engine.schedule import WarmupSchedule
from detector.model.detector import build_model


def _schedule(**train) -> WarmupSchedule:
    cfg = TrainConfig(**{"epochs": 10, "steps_per_epoch": 10, "lr0": 0.1, "warmup_epochs": 2, **train})
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr0)
    return WarmupSchedule(optimizer, cfg)


def test_warmup_is_linear_per_iteration_then_cosine_reaches_the_final_factor():
    schedule = _schedule(schedule="cosine", final_lr_factor=0.01, warmup_start_factor=0.001)
    assert schedule.lr_at(0) == pytest.approx(0.1 * 0.001)
    assert schedule.lr_at(10) == pytest.approx(0.1 * (0.001 + 0.999 * 0.5))  # half-way through warmup
    assert schedule.lr_at(20) == pytest.approx(0.1)
    assert schedule.lr_at(60) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))  # cosine mid-point
    assert schedule.lr_at(100) == pytest.approx(0.1 * 0.01)


def test_step_schedule_drops_at_the_milestones_and_lr_scale_applies():
    schedule = _schedule(schedule="step", step_milestones=[0.5, 0.8], step_gamma=0.1)
    assert schedule.lr_at(49) == pytest.approx(0.1)
    assert schedule.lr_at(50) == pytest.approx(0.01)
    assert schedule.lr_at(80) == pytest.approx(0.001)
    schedule.lr_scale = 0.5  # what a NaN-guard rollback does
    assert schedule.apply(30) == pytest.approx(0.05)
    assert schedule.optimizer.param_groups[0]["lr"] == pytest.approx(0.05)


def test_no_weight_decay_on_norms_and_biases():
    model_cfg = ModelConfig(width=0.25, fpn_levels=[2, 3], fpn_channels=16, head_convs=1)
    model = build_model(model_cfg, num_classes=3)
    decayed, free = param_groups(model, weight_decay=5e-4)
    norm_params = {id(p) for m in model.modules() if isinstance(m, (torch.nn.GroupNorm, torch.nn.BatchNorm2d))
                   for p in m.parameters(recurse=False)}
    assert norm_params and norm_params <= {id(p) for p in free["params"]}
    assert all(p.ndim >= 2 for p in decayed["params"]) and all(p.ndim <= 1 for p in free["params"])
    assert free["weight_decay"] == 0.0 and decayed["weight_decay"] == 5e-4
    optimizer = build_optimizer(model, TrainConfig())
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    assert math.isclose(optimizer.param_groups[0]["momentum"], 0.937)
