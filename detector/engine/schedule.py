"""Learning-rate schedule, evaluated per optimizer step (iteration), not per epoch.

Linear warmup from ``warmup_start_factor * lr0`` to ``lr0`` over ``warmup_epochs`` epochs,
then cosine, step or constant decay. The NaN guard lowers the rate on each rollback through
``lr_scale``, which is part of the state so that a resumed run keeps the lowered rate.
"""
from __future__ import annotations

import math

import torch

from detector.config import TrainConfig


class WarmupSchedule:
    """Sets the lr of every param group of ``optimizer`` for a given optimizer step."""

    def __init__(self, optimizer: torch.optim.Optimizer, train_cfg: TrainConfig) -> None:
        self.optimizer = optimizer
        self.cfg = train_cfg
        self.total_steps = train_cfg.epochs * train_cfg.steps_per_epoch
        self.warmup_steps = int(round(train_cfg.warmup_epochs * train_cfg.steps_per_epoch))
        self.lr_scale = 1.0  # lowered by the NaN guard on each rollback

    def factor(self, step: int) -> float:
        """Multiplier of lr0 at optimizer step ``step`` (0-based), before ``lr_scale``."""
        cfg = self.cfg
        if step < self.warmup_steps:
            alpha = step / max(1, self.warmup_steps)
            return cfg.warmup_start_factor + (1.0 - cfg.warmup_start_factor) * alpha
        decay_steps = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / decay_steps)
        if cfg.schedule == "cosine":
            return cfg.final_lr_factor + (1 - cfg.final_lr_factor) * 0.5 * (1 + math.cos(math.pi * progress))
        if cfg.schedule == "step":
            passed = sum(1 for m in cfg.step_milestones if step >= m * self.total_steps)
            return cfg.step_gamma**passed
        return 1.0  # constant

    def lr_at(self, step: int) -> float:
        """The learning rate used for optimizer step ``step``."""
        return self.cfg.lr0 * self.factor(step) * self.lr_scale

    def apply(self, step: int) -> float:
        """Write the lr of ``step`` into every param group; returns it."""
        lr = self.lr_at(step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def state_dict(self) -> dict:
        return {"lr_scale": self.lr_scale}

    def load_state_dict(self, state: dict) -> None:
        self.lr_scale = float(state.get("lr_scale", 1.0))
