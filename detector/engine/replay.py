"""Re-run one dumped training step under ``torch.autograd.detect_anomaly``.

    python -m detector.engine.replay runs/NAME/nan_dumps/step_00000123.pt

Loads the weights, optimizer state, RNG and batch that ``--debug-grads`` saved, repeats the
forward pass (naming the first module whose output is non-finite), the backward pass under
anomaly detection (which names the first autograd operation that produced NaN, with the
forward line that created it), then clipping and the optimizer update (naming the first
weight that turns non-finite). Exit status: 0 when the failure was reproduced, 1 when the
step came out finite this time (e.g. the fault was injected from outside the model), 2 on a
bad dump path or a file that is not a dump (one line; a file holding pickled code is refused
without running it).
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from detector.config import config_from_dict
from detector.engine.checkpoint import CheckpointError, restore_rng, safe_load
from detector.engine.debug_grads import GradDebugger
from detector.engine.optim import build_optimizer


DUMP_KEYS = ("step", "reason", "lr", "batches", "model", "optimizer", "rng", "config", "class_names")


def replay_step(dump_path: Path) -> bool:
    """Replay the dumped step, printing what went wrong first; True if it was reproduced."""
    from detector.model.detector import build_model

    dump = safe_load(dump_path, "dump")  # weights_only: a dump someone sent cannot run code
    if not isinstance(dump, dict) or any(key not in dump for key in DUMP_KEYS):
        raise CheckpointError(f"{dump_path} is not a --debug-grads dump (missing keys)")
    values = dump["config"]
    values["data"]["root"] = None  # the data folder is not needed (the batch is in the dump)
    cfg = config_from_dict(values)
    print(f"replaying step {dump['step']} ({dump['reason']}), lr {dump['lr']:.4g}")
    model = build_model(cfg.model, len(dump["class_names"]))
    model.load_state_dict(dump["model"])
    model.train()
    with tempfile.TemporaryDirectory() as tmp:
        watcher = GradDebugger(model, Path(tmp))
        watcher.begin_step(dump["step"])
        restore_rng(dump["rng"])
        reproduced = _forward_backward(model, dump, watcher)
        if not reproduced and dump["reason"].startswith("loss spike"):
            reproduced = _explain_spike(model)
        if not reproduced:
            reproduced = _update(model, dump, cfg)
    if not reproduced:
        print("the step came out finite: the failure did not come from this batch and these weights "
              "(an injected fault, or non-determinism on GPU)")
    return reproduced


def _forward_backward(model: torch.nn.Module, dump: dict, watcher: GradDebugger) -> bool:
    """Forward + backward of every micro-batch under anomaly detection."""
    accumulate = len(dump["batches"])
    for micro, (images, targets) in enumerate(dump["batches"]):
        with warnings.catch_warnings():  # its constructor warns "Anomaly Detection has been enabled"
            warnings.filterwarnings("ignore", message="Anomaly Detection has been enabled")
            anomaly = torch.autograd.detect_anomaly(check_nan=True)
        with anomaly:
            loss_terms = model(images, targets)
            loss = sum(v.float() for v in loss_terms.values())
            terms = ", ".join(f"{k}={float(v.detach()):.4g}" for k, v in loss_terms.items())
            print(f"micro-batch {micro}: loss {float(loss.detach()):.4g} ({terms})")
            if watcher.first_forward:
                print(f"first non-finite forward value: {watcher.first_forward}")
            try:
                (loss / accumulate).backward()
            except RuntimeError as err:
                print(f"first offending backward operation: {str(err).splitlines()[0]}")
                print("(the forward traceback of that operation is printed above by detect_anomaly)")
                return True
        if not math.isfinite(float(loss.detach())):
            print("loss is non-finite (the backward pass did not report a NaN-producing op: inf, not NaN)")
            return True
    return False


def _explain_spike(model: torch.nn.Module) -> bool:
    """A finite loss spike: name the parameters with the largest gradients (where it grows)."""
    norms = sorted(((float(p.grad.norm()), n) for n, p in model.named_parameters() if p.grad is not None),
                   reverse=True)[:5]
    print("loss spike reproduced (finite, so detect_anomaly has nothing to report); largest gradients:")
    for value, name in norms:
        print(f"  {name}: {value:.4g}")
    return True


def _update(model: torch.nn.Module, dump: dict, cfg) -> bool:
    """Clip and step as the trainer does; report the first weight that became non-finite."""
    params = [p for p in model.parameters() if p.grad is not None]
    max_norm = cfg.train.clip_grad_norm if cfg.train.clip_grad_norm is not None else float("inf")
    norm = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    print(f"pre-clip gradient norm {norm:.4g} (clip at {cfg.train.clip_grad_norm})")
    if not math.isfinite(norm):
        bad = [n for n, p in model.named_parameters()
               if p.grad is not None and not torch.isfinite(p.grad).all()]
        print(f"first non-finite gradient: {bad[0] if bad else '?'}")
        return True
    optimizer = build_optimizer(model, cfg.train)
    optimizer.load_state_dict(dump["optimizer"])
    for group in optimizer.param_groups:
        group["lr"] = dump["lr"]
    optimizer.step()
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    if bad:
        print(f"the update made {len(bad)} weight tensor(s) non-finite, first: {bad[0]}")
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.engine.replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dump", type=Path, help="a file written by --debug-grads in runs/NAME/nan_dumps/")
    args = parser.parse_args(argv)
    if not args.dump.is_file():
        print(f"error: no such dump file: {args.dump}", file=sys.stderr)
        return 2
    try:
        return 0 if replay_step(args.dump) else 1
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
