"""Everything a run writes for humans and tests: TensorBoard, ``losses.jsonl``, ``events.jsonl``.

Only rank 0 logs (``enabled=False`` elsewhere makes every method a no-op). ``losses.jsonl``
holds one JSON line per optimizer step (loss terms, lr, pre-clip gradient norm, status) so
that two runs can be diffed step for step; ``events.jsonl`` holds guard events (skips,
rollbacks, stops), checkpoints and validations, which are printed as well.
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

LOSSES_FILE = "losses.jsonl"
EVENTS_FILE = "events.jsonl"


def peak_memory_mb(device: torch.device) -> float:
    """Peak GPU memory allocated (CUDA) or the process's peak RSS (CPU), in MiB."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _truncate_jsonl(path: Path, keep_before_step: int) -> None:
    """Drop lines logged at or after ``keep_before_step`` (a resumed run logs them again)."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line).get("step", -1) < keep_before_step]
    path.write_text("".join(line + "\n" for line in kept))


class TrainLogger:
    """TensorBoard SummaryWriter + JSONL files in ``run_dir`` (rank 0 only)."""

    def __init__(self, run_dir: Path, enabled: bool, start_step: int = 0) -> None:
        self.run_dir = Path(run_dir)
        self.enabled = enabled
        self.writer = None
        if not enabled:
            return
        from torch.utils.tensorboard import SummaryWriter

        self.run_dir.mkdir(parents=True, exist_ok=True)
        for name in (LOSSES_FILE, EVENTS_FILE):
            _truncate_jsonl(self.run_dir / name, start_step)
        # purge_step hides events a killed run wrote after its last checkpoint
        self.writer = SummaryWriter(str(self.run_dir), purge_step=start_step if start_step > 0 else None)
        self._losses = open(self.run_dir / LOSSES_FILE, "a")
        self._events = open(self.run_dir / EVENTS_FILE, "a")

    def log_config(self, config_dict: dict, hparams: dict) -> None:
        """The full config as text (readable in TensorBoard's TEXT tab) and key hparams."""
        if not self.enabled:
            return
        text = yaml.safe_dump(config_dict, sort_keys=False)
        self.writer.add_text("config", "```\n" + text + "\n```", 0)
        flat = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in hparams.items()}
        self.writer.add_hparams(flat, {"hparam/placeholder": 0.0}, run_name="hparams")

    def log_step(self, step: int, record: dict) -> None:
        """Per-step scalars: every loss term, lr, pre-clip grad norm (and a JSONL line)."""
        if not self.enabled:
            return
        self._losses.write(json.dumps(record) + "\n")
        self._losses.flush()
        for key, value in record.items():
            if key.startswith("loss") and value is not None:
                self.writer.add_scalar(f"loss/{key}", value, step)
        if record.get("lr") is not None:
            self.writer.add_scalar("train/lr", record["lr"], step)
        if record.get("grad_norm") is not None:
            self.writer.add_scalar("train/grad_norm_preclip", record["grad_norm"], step)

    def log_scalars(self, step: int, scalars: dict[str, float]) -> None:
        """Interval scalars (clip rate, images/s, peak memory, guard counters)."""
        if not self.enabled:
            return
        for tag, value in scalars.items():
            self.writer.add_scalar(tag, value, step)

    def event(self, step: int, kind: str, message: str, **extra: Any) -> None:
        """A guard/checkpoint/validation event: printed, JSONL, and TensorBoard text."""
        if not self.enabled:
            return
        print(f"[{kind}] step {step}: {message}", file=sys.stderr, flush=True)
        self._events.write(json.dumps({"step": step, "kind": kind, "message": message, **extra}) + "\n")
        self._events.flush()
        self.writer.add_text(f"events/{kind}", message, step)

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
