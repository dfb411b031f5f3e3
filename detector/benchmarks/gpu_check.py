"""One prepared GPU check of the Stage-2 recipe (issue 18 item 5): about a minute on a recent GPU.

    python -m detector.bench --gpu-check [--tiny] [--steps N] [--out gpu_check.json]

Rows, each model built fresh (same seed) so that each peak memory is its own:

* ``train``: the Stage-2 model (configs/stage2.yaml: resnet34, 1024 px, batch 4) doing the
  engine's optimizer step (autocast + GradScaler, clipping, the engine's optimizer) on batches
  already in GPU memory, AMP off and on: images/s and ``torch.cuda.max_memory_allocated``.
* ``fed``: the same step fed by the engine's DataLoader (:mod:`detector.data.loader`, pinned
  memory) with 0 and ``data.num_workers`` (and twice as many) workers, AMP on (the fastest step,
  the hardest to feed). GPU idle fraction = time waiting for the next batch / step time (the GPU
  is synchronised at the end of each step, so the wait is time the GPU had nothing to do).
* ``reference``: torchvision's ``fcos_resnet50_fpn(weights=None, weights_backbone=None)`` at
  the same crop and batch, AMP off and on.

Crops come from the real DSv2 sample page shipped in tests/fixtures (nothing to generate or
download). Without CUDA, or with ``--tiny``, a tiny config runs instead (a quarter-width
ResNet-18 on 128 px crops, batch 2, no AMP) and the output says that the figures are CPU
figures: that is what the test runs in seconds.
"""
from __future__ import annotations

import gc
import json
import os
import time
from pathlib import Path
from typing import Optional

import torch

from detector.bench import TorchvisionFCOS
from detector.config import Config, load_config
from detector.data.classes import resolve_classes
from detector.data.dataset import build_dataset, collate_batch
from detector.data.loader import StepBatchSampler, build_loader
from detector.data.loader_bench import SAMPLE_JSON
from detector.engine.optim import build_optimizer
from detector.model import build_model

#: The tiny config of the CPU run (the test's): seconds per row on 2 cores.
TINY_OVERRIDES = ["model.backbone=resnet18", "model.width=0.25", "model.fpn_levels=[2,3,4]",
                  "model.fpn_channels=32", "model.head_convs=1", "data.imgsz=128", "train.batch_size=2"]
WARMUP_STEPS = {"cuda": 2, "cpu": 1}  # not timed: cuDNN algorithm search, allocator growth
GPU_STEPS, CPU_STEPS = 20, 2  # timed steps per row
DISTINCT_BATCHES = 4  # the "train" rows cycle through this many batches held on the device


def check_config(tiny: bool, data: Path) -> Config:
    """Stage-2 (or the tiny config) reading crops from ``data``."""
    overrides = [f"data.root={data}"] + (TINY_OVERRIDES + ["data.num_workers=2"] if tiny else [])
    return load_config("stage2.yaml", overrides)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _to(batch: tuple, device: torch.device) -> tuple[torch.Tensor, list[dict]]:
    images, targets = batch
    pinned = images.is_pinned()
    return (images.to(device, non_blocking=pinned),
            [{k: v.to(device, non_blocking=pinned) for k, v in t.items()} for t in targets])


class _Stepper:
    """The engine's optimizer step (autocast, GradScaler, clip) for one model on one device."""

    def __init__(self, model: torch.nn.Module, cfg: Config, device: torch.device, amp: bool) -> None:
        self.model, self.device, self.amp = model.to(device).train(), device, amp
        self.optimizer = build_optimizer(model, cfg.train)
        self.scaler = torch.amp.GradScaler("cuda", enabled=amp)
        self.clip = cfg.train.clip_grad_norm or float("inf")

    def step(self, images: torch.Tensor, targets: list[dict]) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.amp):
            losses = self.model(images, targets)
        loss = sum(v.float() for v in losses.values())
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()


def _new_model(kind: str, cfg: Config, num_classes: int) -> torch.nn.Module:
    torch.manual_seed(cfg.train.seed)
    if kind == "reference":
        return TorchvisionFCOS(num_classes, cfg.data.imgsz)
    return build_model(cfg.model, num_classes)


def _free(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_mb(device: torch.device) -> Optional[float]:
    return round(torch.cuda.max_memory_allocated(device) / 2**20, 1) if device.type == "cuda" else None


def speed_row(kind: str, cfg: Config, dataset, device: torch.device, amp: bool, steps: int) -> dict:
    """Images/s and peak memory of ``steps`` optimizer steps on batches already on the device."""
    _free(device)
    batch = cfg.train.batch_size
    batches = [_to(build_batch(dataset, m, batch), device) for m in range(DISTINCT_BATCHES)]
    stepper = _Stepper(_new_model(kind, cfg, len(resolve_classes(cfg.data.classes))), cfg, device, amp)
    for i in range(WARMUP_STEPS[device.type]):
        stepper.step(*batches[i % DISTINCT_BATCHES])
    _sync(device)
    start = time.perf_counter()
    for i in range(steps):
        stepper.step(*batches[i % DISTINCT_BATCHES])
    _sync(device)
    seconds = (time.perf_counter() - start) / steps
    row = {"row": kind, "amp": amp, "workers": None, "images_per_s": round(batch / seconds, 2),
           "step_s": round(seconds, 4), "peak_memory_mb": _peak_mb(device), "gpu_idle_fraction": None}
    del stepper, batches
    return row


def build_batch(dataset, micro_batch: int, batch: int) -> tuple[torch.Tensor, list[dict]]:
    """Micro-batch ``micro_batch`` of ``dataset``, collated in this process."""
    return collate_batch([dataset[i] for i in range(micro_batch * batch, (micro_batch + 1) * batch)])


def fed_row(cfg: Config, dataset, device: torch.device, amp: bool, workers: int, steps: int) -> dict:
    """The Stage-2 step fed by the DataLoader: images/s and the fraction of time the GPU waits."""
    _free(device)
    batch = cfg.train.batch_size
    untimed = max(WARMUP_STEPS[device.type], workers)  # each worker's first batch pays its start-up
    sampler = StepBatchSampler(lambda m: list(range(m * batch, (m + 1) * batch)), untimed + steps)
    loader = build_loader(dataset, sampler, workers, pin_memory=device.type == "cuda", seed=cfg.train.seed)
    stepper = _Stepper(_new_model("train", cfg, len(resolve_classes(cfg.data.classes))), cfg, device, amp)
    waited = total = 0.0
    iterator = iter(loader)
    for i in range(untimed + steps):
        t0 = time.perf_counter()
        images, targets = _to(next(iterator), device)
        t1 = time.perf_counter()
        stepper.step(images, targets)
        _sync(device)  # the wait above is then time the device had nothing queued
        if i >= untimed:
            waited += t1 - t0
            total += time.perf_counter() - t0
    del iterator, loader, stepper
    return {"row": "fed", "amp": amp, "workers": workers, "images_per_s": round(steps * batch / total, 2),
            "step_s": round(total / steps, 4), "peak_memory_mb": _peak_mb(device),
            "gpu_idle_fraction": round(waited / total, 3)}


def _guarded(run, what: str) -> tuple[Optional[dict], str]:
    """Run one row: ``(row, "")``, or ``(None, note)`` when it ran out of GPU memory (a figure too)."""
    try:
        return run(), ""
    except torch.cuda.OutOfMemoryError:
        _free(torch.device("cuda"))
        return None, f"{what}: out of GPU memory"


def run_check(tiny: bool = False, device: Optional[str] = None, steps: Optional[int] = None,
              data: Optional[Path] = None, budget_s: float = 420.0) -> dict:
    """Every row of the check; rows that would start after ``budget_s`` are skipped (noted)."""
    start = time.perf_counter()
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    tiny = tiny or device.type != "cuda"
    cfg = check_config(tiny, Path(data or SAMPLE_JSON))
    steps = steps or (GPU_STEPS if device.type == "cuda" else CPU_STEPS)
    amps = (False, True) if device.type == "cuda" else (False,)  # autocast float16 is CUDA only here
    workers = cfg.data.num_workers
    worker_counts = sorted({0, workers, min(2 * workers, max(1, (os.cpu_count() or 1) - 1))}) \
        if not tiny else [0, workers]
    if device.type == "cpu":  # a second thread on a loaded CPU slows a step several times over
        torch.set_num_threads(cfg.train.threads or 1)
    length = (DISTINCT_BATCHES + max(WARMUP_STEPS[device.type], max(worker_counts)) + steps) \
        * cfg.train.batch_size
    dataset = build_dataset(cfg, cfg.data.train_split, length)
    plan = [(f"train amp={a}", lambda a=a: speed_row("train", cfg, dataset, device, a, steps)) for a in amps]
    plan += [(f"fed workers={w}", lambda w=w: fed_row(cfg, dataset, device, amps[-1], w, steps))
             for w in worker_counts]
    plan += [(f"reference amp={a}", lambda a=a: speed_row("reference", cfg, dataset, device, a, steps))
             for a in amps]
    rows: list[dict] = []
    notes: list[str] = []
    for what, run in plan:
        if time.perf_counter() - start > budget_s:
            notes.append(f"{what}: skipped (past the {budget_s:.0f} s budget)")
            continue
        row, note = _guarded(run, what)
        rows += [row] if row else []
        notes += [note] if note else []
        print(note or json.dumps(row), flush=True)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({os.cpu_count()} cores)"
    return {"device": name, "cuda": device.type == "cuda", "tiny": tiny, "torch": torch.__version__,
            "backbone": cfg.model.backbone, "width": cfg.model.width, "imgsz": cfg.data.imgsz,
            "batch": cfg.train.batch_size, "steps": steps, "threads": torch.get_num_threads(),
            "rows": rows, "notes": notes, "wall_s": round(time.perf_counter() - start, 1)}


def headline(result: dict) -> str:
    """What the figures are: the card, or a plain statement that they are CPU figures."""
    what = (f"{result['backbone']} x{result['width']:g}, {result['imgsz']} px, batch {result['batch']}, "
            f"{result['steps']} timed steps per row")
    if result["cuda"]:
        return f"GPU check on {result['device']} (torch {result['torch']}): {what}"
    return (f"CPU FIGURES, NOT GPU FIGURES: no CUDA device (or --tiny), tiny config on {result['device']}, "
            f"{result['threads']} torch thread(s): {what}")


def markdown_table(result: dict) -> str:
    """The rows as a markdown table (memory and idle fraction only where they were measured)."""
    names = {"train": f"this detector ({result['backbone']})", "fed": f"this detector ({result['backbone']})",
             "reference": "torchvision fcos_resnet50_fpn"}
    lines = ["| model | batches from | AMP | img/s | s/step | peak GPU memory MiB | GPU idle |",
             "|---|---|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        source = f"DataLoader, {r['workers']} workers" if r["row"] == "fed" else "device memory"
        memory = "n/a (CPU)" if r["peak_memory_mb"] is None else f"{r['peak_memory_mb']:.0f}"
        idle = "" if r["gpu_idle_fraction"] is None else f"{r['gpu_idle_fraction']:.1%}"
        amp = "on" if r["amp"] else "off"
        lines.append(f"| {names[r['row']]} | {source} | {amp} | {r['images_per_s']:.2f} | {r['step_s']:.3f} "
                     f"| {memory} | {idle} |")
    return "\n".join([headline(result), ""] + lines + [f"- {n}" for n in result["notes"]])


def main(tiny: bool, device: Optional[str], steps: Optional[int], data: Optional[str], out: str) -> dict:
    """``python -m detector.bench --gpu-check``: run, print the table, write ``out`` (JSON)."""
    result = run_check(tiny, device, steps, Path(data) if data else None)
    print(markdown_table(result))
    Path(out).write_text(json.dumps(result, indent=2))
    print(f"wrote {out} ({result['wall_s']:.0f} s)")
    return result
