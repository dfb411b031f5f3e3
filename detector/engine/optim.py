"""SGD with momentum; weight decay only on conv/linear weights, never on norms and biases.

Decaying a GroupNorm gain or a bias towards zero only fights the normalisation: the usual
recipe (YOLO, detectron2) exempts every 0-d and 1-d parameter.
"""
from __future__ import annotations

import torch

from detector.config import TrainConfig


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """Split trainable parameters into a decayed group (ndim >= 2) and a free group."""
    decayed, free = [], []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        (decayed if param.ndim >= 2 else free).append(param)
    return [
        {"params": decayed, "weight_decay": weight_decay, "name": "weights"},
        {"params": free, "weight_decay": 0.0, "name": "norms_and_biases"},
    ]


def build_optimizer(model: torch.nn.Module, train_cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD (Nesterov momentum, as YOLO) over :func:`param_groups`."""
    return torch.optim.SGD(
        param_groups(model, train_cfg.weight_decay),
        lr=train_cfg.lr0,
        momentum=train_cfg.momentum,
        nesterov=train_cfg.momentum > 0,
    )
