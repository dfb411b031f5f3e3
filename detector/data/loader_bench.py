"""How fast the training DataLoader cuts Stage-2 crops, for 0, 1, 2, ... worker processes.

    python -m detector.data.loader_bench [--config stage2.yaml] [--data PATH] [--workers 0,1,2]
                                         [--batches 30] [--out loader_bench.json]

The crops are the training crops of ``--config`` (stage2: 1024 px, batch 4, every augmentation
the config draws), built by the engine's own loader (:mod:`detector.data.loader`). Each worker's
first batch is not timed (worker start-up, first page decode). The line under the
table says how short a GPU step may be for the loader to keep up with it.

``--data`` defaults to the real DSv2 sample page (one page: after the first batch every crop
comes from the page cache; on a large dataset a crop may also pay a page decode).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from detector.config import Config, load_config
from detector.data.dataset import build_dataset
from detector.data.loader import StepBatchSampler, build_loader

REPO_ROOT = Path(__file__).resolve().parents[2]
SAMPLE_JSON = REPO_ROOT / "tests" / "fixtures" / "deepscores_v2_sample" / "deepscores_v2_sample.json"


def bench_config(config: str, data: Path, overrides: list[str] | None = None) -> Config:
    """``config`` reading its training crops from ``data`` (a DSv2 folder or JSON file)."""
    return load_config(config, [f"data.root={data}", *(overrides or [])])


def crops_per_second(cfg: Config, workers: int, batches: int, pin_memory: bool = False) -> dict:
    """Time ``batches`` micro-batches of ``cfg``'s training crops cut by ``workers`` processes.

    Batches are taken as soon as they are ready (no idle wait that would let the workers fill
    their queues ahead); the clock starts when each worker has delivered its first batch (worker
    start-up and page decodes are not timed). Returns ``workers``, ``crops_per_s`` and ``batch_s``.
    """
    batch = cfg.train.batch_size
    untimed = max(1, workers)
    total = untimed + batches
    dataset = build_dataset(cfg, cfg.data.train_split, total * batch)
    sampler = StepBatchSampler(lambda m: list(range(m * batch, (m + 1) * batch)), total)
    loader = build_loader(dataset, sampler, workers, pin_memory, seed=cfg.train.seed)
    iterator = iter(loader)
    for _ in range(untimed):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    seconds = time.perf_counter() - start
    del iterator, loader  # stops the workers
    return {"workers": workers, "crops_per_s": round(batches * batch / seconds, 2),
            "batch_s": round(seconds / batches, 3)}


def markdown_table(rows: list[dict], cfg: Config) -> str:
    """The rows as a markdown table with a line on the GPU step each can feed."""
    lines = [f"| workers | crops/s ({cfg.data.imgsz} px) | s per batch of {cfg.train.batch_size} |",
             "|---:|---:|---:|"]
    lines += [f"| {r['workers']} | {r['crops_per_s']:.2f} | {r['batch_s']:.3f} |" for r in rows]
    best = max(rows, key=lambda r: r["crops_per_s"])
    lines.append(f"\nThe loader keeps a GPU busy whose optimizer step (batch {cfg.train.batch_size}) takes "
                 f">= {best['batch_s']:.3f} s ({best['workers']} workers); a faster step waits for crops.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m detector.data.loader_bench",
                                     description="Training crops per second for 0, 1, 2 DataLoader workers.")
    parser.add_argument("--config", default="stage2.yaml", help="training config (default: stage2.yaml)")
    parser.add_argument("--data", default=str(SAMPLE_JSON),
                        help="DSv2 folder or JSON file (default: the real DSv2 sample page)")
    parser.add_argument("--workers", default="0,1,2", help="worker counts to time (default: 0,1,2)")
    parser.add_argument("--batches", type=int, default=30, help="timed micro-batches per count (default: 30)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, e.g. data.imgsz=512 (repeatable)")
    parser.add_argument("--out", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    cfg = bench_config(args.config, Path(args.data), args.overrides)
    if cfg.train.threads > 0:
        torch.set_num_threads(cfg.train.threads)
    counts = [int(w) for w in args.workers.split(",")]
    print(f"{cfg.data.imgsz} px crops, batch {cfg.train.batch_size}, {args.batches} timed batches per row, "
          f"{torch.get_num_threads()} torch threads in this process (workers: 1 each), "
          f"{os.cpu_count()} CPUs (load average {os.getloadavg()[0]:.1f}: other work slows every row)",
          flush=True)
    rows = []
    for workers in counts:
        rows.append(crops_per_second(cfg, workers, args.batches))
        print(json.dumps(rows[-1]), flush=True)
    print(markdown_table(rows, cfg))
    if args.out:
        Path(args.out).write_text(json.dumps({"imgsz": cfg.data.imgsz, "batch": cfg.train.batch_size,
                                              "cpus": os.cpu_count(), "rows": rows}, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
