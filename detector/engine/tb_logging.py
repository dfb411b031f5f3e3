"""Everything a run writes for humans and tests: TensorBoard, ``losses.jsonl``, ``events.jsonl``.

Only rank 0 logs (``enabled=False`` elsewhere makes every method a no-op). ``losses.jsonl``
holds one JSON line per optimizer step (loss terms, lr, pre-clip gradient norm, status) so
that two runs can be diffed step for step; ``events.jsonl`` holds guard events (skips,
rollbacks, stops), checkpoints and validations, which are printed as well.

TensorBoard's x axis is the *iteration*: the number of optimizer steps executed so far,
replays after a rollback included. It equals the step until the first rollback; after one,
the curves go on to the right instead of drawing the replayed steps over the old ones.
``losses.jsonl`` records both (``step`` says which batch, ``iteration`` when).

Messages go through ``tqdm.write`` (:func:`say`): a line never lands inside the progress bar.
"""
from __future__ import annotations

import json
import resource
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from tqdm import tqdm

LOSSES_FILE = "losses.jsonl"
EVENTS_FILE = "events.jsonl"
GUARD_EVENTS = ("nonfinite", "spike", "debug_grads", "rollback", "skip_batch", "stop")  # printed on stderr


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated (CUDA) or the process's peak RSS (CPU), in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def say(message: str, warning: bool = False) -> None:
    """Print a line above the progress bar (never inside it): stdout, or stderr for a warning."""
    stream = sys.stderr if warning else sys.stdout
    tqdm.write(message, file=stream)
    stream.flush()


def read_jsonl_tolerant(path: Path) -> tuple[list[dict], int]:
    """The records of a JSONL file and the number of unreadable lines skipped.

    A run killed on a full disk leaves a half-written last line; it is dropped, not fatal.
    """
    records, broken = [], 0
    for line in Path(path).read_text(errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            broken += 1
            continue
        if isinstance(record, dict):
            records.append(record)
        else:
            broken += 1
    return records, broken


def _truncate_jsonl(path: Path, keep_before: int) -> None:
    """Drop lines logged at or after iteration ``keep_before`` (a resumed run logs them again).

    Lines without an ``iteration`` (older runs) are judged by their ``step``.
    """
    if not path.is_file():
        return
    records, broken = read_jsonl_tolerant(path)
    if broken:
        say(f"warning: {path}: dropped {broken} unreadable line(s) "
            "(a half-written line, e.g. from a full disk)", warning=True)
    kept = [r for r in records if r.get("iteration", r.get("step", -1)) < keep_before]
    path.write_text("".join(json.dumps(r) + "\n" for r in kept))


class TrainLogger:
    """TensorBoard SummaryWriter + JSONL files in ``run_dir`` (rank 0 only)."""

    def __init__(self, run_dir: Path, enabled: bool, start_iteration: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.iteration = start_iteration  # TensorBoard's x: optimizer steps executed (set by the trainer)
        self.writer = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in (LOSSES_FILE, EVENTS_FILE):
            _truncate_jsonl(self.run_dir / name, start_iteration)
        # purge_step hides events a killed run wrote after its last checkpoint
        purge = start_iteration if start_iteration > 0 else None
        self.writer = SummaryWriter(str(self.run_dir), purge_step=purge)
        self._losses = open(self.run_dir / LOSSES_FILE, "a")
        self._events = open(self.run_dir / EVENTS_FILE, "a")

    def log_config(self, config_dict: dict, hparams: dict) -> None:
        """The full config as text (TensorBoard's TEXT tab) and key hparams (HPARAMS tab).

        The hparams go into this run's own event file, with validation mAP (``val/map``, logged
        by validation) as their metric: no separate ``NAME/hparams`` run with a placeholder.
        """
        if not self.enabled:
            return
        from torch.utils.tensorboard.summary import hparams as hparams_summaries

        text = yaml.safe_dump(config_dict, sort_keys=False)
        self.writer.add_text("config", "```\n" + text + "\n```", 0)
        flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
        for summary in hparams_summaries(flat, {"val/map": float("nan")}):
            self.writer.file_writer.add_summary(summary)

    def log_step(self, record: dict) -> None:
        """Per-step scalars: every loss term, lr, pre-clip grad norm (and a JSONL line).

        ``record`` holds ``step`` and ``iteration``; TensorBoard's x axis is the iteration.
        """
        if not self.enabled:
            return
        self._losses.write(json.dumps(record) + "\n")
        self._losses.flush()
        x = record["iteration"]
        for key, value in record.items():
            if key.startswith("loss") and value is not None:
                self.writer.add_scalar(f"loss/{key}", value, x)
        if record.get("lr") is not None:
            self.writer.add_scalar("train/lr", record["lr"], x)
        if record.get("grad_norm") is not None:
            self.writer.add_scalar("train/grad_norm_preclip", record["grad_norm"], x)

    def log_scalars(self, iteration: int, scalars: dict[str, float]) -> None:
        """Interval scalars (clip rate, images/s, peak memory, guard counters) at ``iteration``."""
        if not self.enabled:
            return
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, iteration)

    def event(self, step: int, kind: str, message: str, quiet: bool = False, **extra: Any) -> None:
        """A guard/checkpoint/validation event: printed (unless ``quiet``), JSONL, and TensorBoard text."""
        if not self.enabled:
            return
        if not quiet:
            say(f"[{kind}] step {step}: {message}", warning=kind in GUARD_EVENTS)
        record = {"step": step, "iteration": self.iteration, "kind": kind, "message": message, **extra}
        self._events.write(json.dumps(record) + "\n")
        self._events.flush()
        self.writer.add_text(f"events/{kind}", message, self.iteration)

    def log_validation(self, step: int, summary: dict, per_class_ap: dict[str, float]) -> None:
        """Validation mAP overall (``val/map``...) and per class (``val_ap/<class>``)."""
        if not self.enabled:
            return
        for key, value in summary.items():
            if isinstance(value, (int, float)) and value == value:
                self.writer.add_scalar(f"val/{key}", value, step)
        for name, value in per_class_ap.items():
            if value == value and value >= 0:  # COCO uses -1 for classes absent from GT
                self.writer.add_scalar(f"val_ap/{name}", value, step)

    def log_image(self, tag: str, image_hwc: np.ndarray, step: int) -> None:
        """An overlay picture ``[H, W, 3] uint8``."""
        if not self.enabled:
            return
        self.writer.add_image(tag, image_hwc, step, dataformats="HWC")

    def flush(self) -> None:
        if self.enabled:
            self.writer.flush()

    def close(self) -> None:
        if not self.enabled:
            return
        self.writer.close()
        self._losses.close()
        self._events.close()
