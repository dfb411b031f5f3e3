"""The NaN guard: a non-finite loss or gradient norm never reaches the weights.

Decisions only (no tensors, no I/O), so the trainer stays readable and every rank, fed the
same all-reduced flags, takes the same decision:

- a bad step (non-finite loss or pre-clip gradient norm, or a finite loss above
  ``loss_spike_factor`` x the median of the recent good losses: a divergence that has not
  reached inf yet) is skipped and counted. The first steps are protected too: with no good
  loss yet, a loss above ``INITIAL_LOSS_BOUND`` is a spike; from the first good loss on, the
  median of the good losses seen so far is the reference;
- ``max_bad_steps`` bad steps within ``window`` steps -> roll back to the last good
  checkpoint, multiply the learning rate by ``lr_factor``, and skip the offending batches
  when the run passes them again;
- weights that became non-finite after an optimizer step -> roll back at once;
- a rollback beyond ``max_rollbacks`` -> stop, with a message saying what to try.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Literal, Optional

from detector.config import GuardConfig

Action = Literal["ok", "skip", "rollback", "stop"]


class TrainingDiverged(RuntimeError):
    """The guard gave up: the message says what happened and what to try."""


@dataclass
class GuardState:
    """What the guard remembers; stored in checkpoints so a resumed run keeps it."""

    bad_steps: list = field(default_factory=list)  # recent bad steps (within the window)
    skipped_total: int = 0  # every step whose update was dropped
    rollbacks: int = 0
    skip_steps: list = field(default_factory=list)  # batches to skip after a rollback
    last_rollback_target: Optional[int] = None  # step of the checkpoint last rolled back to
    last_reason: str = ""
    recent_losses: list = field(default_factory=list)  # good losses of the last `window` steps
    last_bad_input: bool = False  # the last bad step's batch held non-finite pixels (a data fault)
    bad_input_steps: int = 0  # bad steps whose batch held non-finite pixels


# With no good loss to compare with (the first step of a run), a loss above this is a spike.
# A freshly initialised detector starts near 1-10 (focal loss with the prior-probability bias,
# GIoU <= 2, centerness BCE ~0.7, each normalised by the positives): 1e3 is a blow-up already.
INITIAL_LOSS_BOUND = 1e3


class NanGuard:
    """Turns per-step health flags into ok / skip / rollback / stop."""

    def __init__(self, cfg: GuardConfig) -> None:
        self.cfg = cfg
        self.state = GuardState()

    def should_skip_batch(self, step: int) -> bool:
        """True for a batch that caused a rollback: the run steps over it."""
        return step in self.state.skip_steps

    def spike_bound(self) -> Optional[float]:
        """The loss above which a finite loss is a spike (None: the spike check is off).

        ``loss_spike_factor`` x the median of the recent good losses; before any good loss
        (the first step) the fixed :data:`INITIAL_LOSS_BOUND`.
        """
        factor, history = self.cfg.loss_spike_factor, self.state.recent_losses
        if factor is None or not self.cfg.enabled:
            return None
        return factor * statistics.median(history) if history else INITIAL_LOSS_BOUND

    def loss_spike(self, loss: float) -> bool:
        """True when a finite ``loss`` is above :meth:`spike_bound`."""
        bound = self.spike_bound()
        return bound is not None and loss > bound

    def on_good_step(self, loss: float) -> None:
        """Remember a healthy loss (the baseline of :meth:`loss_spike`)."""
        self.state.recent_losses = (self.state.recent_losses + [loss])[-self.cfg.window:]

    def on_bad_step(self, step: int, reason: str, bad_input: bool = False) -> Action:
        """Record a non-finite loss/gradient at ``step`` and decide what happens next.

        ``bad_input``: the step's batch held non-finite pixels (the stop message then blames
        the data, not the learning rate).
        """
        st = self.state
        st.skipped_total += 1
        st.last_bad_input = bad_input
        st.bad_input_steps += int(bad_input)
        st.last_reason = f"step {step}: {reason}"
        st.bad_steps = [s for s in st.bad_steps if s > step - self.cfg.window] + [step]
        if not self.cfg.enabled:
            return "skip"
        if len(st.bad_steps) >= self.cfg.max_bad_steps:
            return self._rollback_or_stop()
        return "skip"

    def on_bad_weights(self, step: int, reason: str) -> Action:
        """Weights became non-finite after an update: the damage is done, roll back now."""
        st = self.state
        st.skipped_total += 1
        st.last_bad_input = False
        st.last_reason = f"step {step}: {reason}"
        st.bad_steps = [s for s in st.bad_steps if s > step - self.cfg.window] + [step]
        return self._rollback_or_stop()

    def _rollback_or_stop(self) -> Action:
        return "stop" if self.state.rollbacks >= self.cfg.max_rollbacks else "rollback"

    def rollback_max_step(self) -> int:
        """Newest checkpoint step allowed as the rollback target.

        Before the first bad step of the window; and if trouble came back within one window
        of the previous rollback, that checkpoint is itself suspect: go further back.
        """
        st = self.state
        limit = min(st.bad_steps) - 1
        target = st.last_rollback_target
        if target is not None and min(st.bad_steps) - target <= self.cfg.window:
            limit = min(limit, st.last_rollback_target - 1)
        return max(limit, 0)

    def on_rollback(self, target_step: int) -> list[int]:
        """Book a rollback to ``target_step``; returns the batches that will be skipped."""
        st = self.state
        st.rollbacks += 1
        st.last_rollback_target = target_step
        offending = sorted(set(st.bad_steps))
        st.skip_steps = sorted(set(st.skip_steps) | set(offending))
        st.bad_steps = []
        return offending

    def stop_message(self, lr: float) -> str:
        """What happened and what to try, for the user who finds the run stopped."""
        st = self.state
        if st.last_bad_input:
            return (
                f"training stopped by the NaN guard after {st.rollbacks} rollback(s) and {st.skipped_total} "
                f"skipped step(s); last failure at {st.last_reason}. The data is non-finite: "
                f"{st.bad_input_steps} bad step(s) had NaN/inf pixels in their batch, so a lower learning "
                "rate will not help. Check the page images and the augmentation settings (data.augment); "
                "--debug-grads dumps the batch "
                "(then `python -m detector.engine.replay runs/NAME/nan_dumps/<dump>.pt`)."
            )
        return (
            f"training stopped by the NaN guard after {st.rollbacks} rollback(s) and {st.skipped_total} "
            f"skipped step(s); last failure at {st.last_reason}; learning rate had been lowered to {lr:.3g}. "
            "Try: a lower train.lr0, train.clip_grad_norm=10 (if it is null), train.amp=false, a longer "
            "train.warmup_epochs, and --debug-grads to name the layer where the first non-finite value "
            "appears "
            "(then `python -m detector.engine.replay runs/NAME/nan_dumps/<dump>.pt`)."
        )

    def state_dict(self) -> dict:
        return dict(vars(self.state))

    def load_state_dict(self, state: dict) -> None:
        self.state = GuardState(**state)
