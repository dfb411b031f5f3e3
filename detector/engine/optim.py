"""SGD with momentum or AdamW; weight decay only on conv/linear weights, never on norms and biases.

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
    """``train.optimizer`` over :func:`param_groups`.

    ``sgd``: Nesterov momentum, as YOLO. ``adamw``: decoupled weight decay, with
    ``train.momentum`` as beta1 (0.937 -> the usual 0.9-ish first-moment decay) and beta2 0.999.
    """
    groups = param_groups(model, train_cfg.weight_decay)
    if train_cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=train_cfg.lr0, betas=(train_cfg.momentum, 0.999))
    return torch.optim.SGD(
        groups,
        lr=train_cfg.lr0,
        momentum=train_cfg.momentum,
        nesterov=train_cfg.momentum > 0,
    )
