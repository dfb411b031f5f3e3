"""NaN-guard decisions (pure logic: the same flags give the same decision on every rank)."""
from __future__ import annotations

from detector.config import GuardConfig
from detector.engine.guard import INITIAL_LOSS_BOUND, NanGuard


def test_bad_steps_within_the_window_trigger_a_rollback_that_skips_them():
    guard = NanGuard(GuardConfig(max_bad_steps=3, window=10, max_rollbacks=2))
    assert guard.on_bad_step(5, "non-finite loss") == "skip"
    assert guard.on_bad_step(30, "non-finite loss") == "skip"  # step 5 has left the window
    assert guard.on_bad_step(31, "non-finite loss") == "skip"
    assert guard.on_bad_step(33, "non-finite loss") == "rollback"
    assert guard.rollback_max_step() == 29  # a checkpoint from before the first bad step
    assert guard.on_rollback(25) == [30, 31, 33]
    assert guard.should_skip_batch(31) and not guard.should_skip_batch(32)
    assert guard.state.skipped_total == 4 and guard.state.rollbacks == 1


def test_trouble_soon_after_a_rollback_goes_further_back_and_ends_in_a_stop_with_advice():
    guard = NanGuard(GuardConfig(max_bad_steps=1, window=10, max_rollbacks=1))
    assert guard.on_bad_step(12, "non-finite loss") == "rollback"
    guard.on_rollback(10)
    assert guard.on_bad_step(14, "non-finite loss") == "stop"
    message = guard.stop_message(lr=0.005)
    assert "1 rollback" in message and "step 14" in message
    assert "train.lr0" in message and "--debug-grads" in message


def test_the_first_steps_are_protected_too():
    guard = NanGuard(GuardConfig(loss_spike_factor=10.0))
    # no good loss yet: a fixed bound (a fresh detector's loss is ~1-10)
    assert guard.spike_bound() == INITIAL_LOSS_BOUND
    assert guard.loss_spike(1e8) and not guard.loss_spike(50.0)
    # from the first good loss on, the median of what there is
    guard.on_good_step(2.85)
    assert guard.loss_spike(4643.0) and not guard.loss_spike(20.0)
    assert NanGuard(GuardConfig(loss_spike_factor=None)).spike_bound() is None


def test_a_loss_far_above_the_recent_median_is_a_spike():
    guard = NanGuard(GuardConfig(loss_spike_factor=10.0))
    for loss in (2.0, 3.0, 2.5, 2.2, 2.8):
        guard.on_good_step(loss)
    assert not guard.loss_spike(20.0)
    assert guard.loss_spike(30.0)


def test_guard_state_survives_a_checkpoint_round_trip():
    guard = NanGuard(GuardConfig(max_bad_steps=1))
    guard.on_bad_step(3, "non-finite loss")
    guard.on_rollback(0)
    restored = NanGuard(GuardConfig())
    restored.load_state_dict(guard.state_dict())
    assert restored.should_skip_batch(3) and restored.state.rollbacks == 1
