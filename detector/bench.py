"""Benchmark: this detector (quickstart and stage2 model settings) vs torchvision's FCOS.

    python -m detector.bench [--steps N] [--device cpu|cuda] [--out bench.json] [--data DIR]
    python -m detector.bench --gpu-check [--tiny] [--out gpu_check.json]   (see benchmarks/gpu_check.py)

Side by side, on the same synthetic pages, crops and device: parameters, training images/s
(same crop size and batch), peak memory while training (RSS on CPU, measured in a fresh
process per model; ``torch.cuda.max_memory_allocated`` on GPU), full-page (2700 x 3800)
inference seconds (tiled; each of ours at its config's tile size, the reference at 1024 px
tiles, the size it would be trained on), and core-class mAP@[.5:.95] on held-out synthetic
page (the same one the full-page timing runs on) after the same number of SGD steps. The reference is
``fcos_resnet50_fpn(weights=None, weights_backbone=None)`` fed the gray crop as 3 channels,
with ``min_size``/``max_size`` set to the input size so it never resizes.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from detector.bench_metrics import coco_map, peak_rss_mb, random_crop
from detector.config import ModelConfig, load_config
from detector.data.classes import resolve_classes
from detector.data.deepscores import load_deepscores, load_page_image, split_json_path
from detector.evaluation.groups import class_group
from detector.model import build_model, detect_pages

REPO_ROOT = Path(__file__).resolve().parents[1]
PAGE_SHAPE = (3800, 2700)  # full-page inference input, rows x columns


class TorchvisionFCOS(nn.Module):
    """torchvision's FCOS behind our model interface ([B, 1, H, W] in, detections out)."""

    def __init__(self, num_classes: int, size: int) -> None:
        super().__init__()
        from torchvision.models.detection import fcos_resnet50_fpn

        self.net = fcos_resnet50_fpn(
            weights=None, weights_backbone=None, num_classes=num_classes, min_size=size, max_size=size,
            score_thresh=0.05, detections_per_img=2000, topk_candidates=1000,
        )

    def set_input_size(self, height: int, width: int) -> None:
        """Make the internal transform keep images of this size unscaled."""
        self.net.transform.min_size = (min(height, width),)
        self.net.transform.max_size = max(height, width)

    def forward(self, images: torch.Tensor, targets: list[dict] | None = None):
        self.set_input_size(*images.shape[-2:])
        rgb = [image.expand(3, -1, -1) for image in images]
        return self.net(rgb, targets) if self.training else self.net(rgb)


def load_pages(data_dir: Path, pages: int, class_names: tuple[str, ...]) -> tuple[list, list]:
    """(train pages, test pages) of the synthetic dataset: (gray image, boxes, labels) each."""
    from detector.data.synth import ensure_synthetic_dataset

    root = ensure_synthetic_dataset(data_dir, pages=pages, seed=0)
    split_pages = []
    for split in ("train", "test"):
        loaded = load_deepscores(split_json_path(root, split), classes=class_names).pages
        split_pages.append([
            (load_page_image(p.path), p.boxes.astype(np.float32),
             np.array([class_names.index(n) for n in p.class_names], dtype=np.int64))
            for p in loaded
        ])
    return split_pages[0], split_pages[1]


def full_page(test_pages: list) -> np.ndarray:
    """A 2700 x 3800 page: the first held-out page, cropped or padded with white paper."""
    image = test_pages[0][0][: PAGE_SHAPE[0], : PAGE_SHAPE[1]]
    page = np.full(PAGE_SHAPE, 255, dtype=np.uint8)
    page[: image.shape[0], : image.shape[1]] = image
    return page


def build(name: str, num_classes: int, crop: int) -> tuple[nn.Module, ModelConfig]:
    """The model called ``name`` and the ModelConfig its tiled inference uses."""
    if name == "torchvision_fcos_r50":
        cfg = ModelConfig(tile_size=1024, tile_overlap=128, score_thresh=0.05)
        return TorchvisionFCOS(num_classes, crop), cfg
    cfg = load_config(REPO_ROOT / "configs" / f"{name}.yaml").model
    return build_model(cfg, num_classes), cfg


def train(model: nn.Module, train_pages: list, steps: int, batch: int, crop: int, device: str) -> float:
    """Plain SGD (linear warmup, clipping) on random crops; returns training images/s after 2 steps."""
    rng = np.random.default_rng(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    warmup = max(1, steps // 5)
    model.train()
    start = None
    for step in range(steps):
        if step == min(2, steps - 1):
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            timed_from = step
        for group in optimizer.param_groups:
            group["lr"] = 0.01 * min(1.0, (step + 1) / warmup)
        samples = []
        for _ in range(batch):
            image, boxes, labels = train_pages[int(rng.integers(len(train_pages)))]
            samples.append(random_crop(image, boxes, labels, crop, rng))
        images = torch.stack([s[0] for s in samples]).to(device)
        targets = [{k: v.to(device) for k, v in s[1].items()} for s in samples]
        losses = model(images, targets)
        loss = sum(losses.values())
        optimizer.zero_grad()
        if torch.isfinite(loss):
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return (steps - timed_from) * batch / max(time.perf_counter() - start, 1e-9)


def measure(name: str, args: dict) -> dict:
    """Everything for one model, in its own process so that peak RSS is its own."""
    torch.set_num_threads(args["threads"])
    torch.manual_seed(0)
    device = args["device"]
    class_names = resolve_classes("stage2")
    train_pages, test_pages = load_pages(Path(args["data"]), args["pages"], class_names)
    model, cfg = build(name, len(class_names), args["crop"])
    model.to(device)
    rss_before = peak_rss_mb()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    images_per_s = train(model, train_pages, args["steps"], args["batch"], args["crop"], device)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else peak_rss_mb()
    page = full_page(test_pages)
    start = time.perf_counter()
    found = detect_pages(model, [page], cfg, device)
    page_s = time.perf_counter() - start
    image, boxes, labels = test_pages[0]
    on_page = (boxes[:, 2] <= page.shape[1]) & (boxes[:, 3] <= page.shape[0])
    core = [i for i, n in enumerate(class_names) if class_group(n) != "other"]
    return {
        "model": name,
        "parameters_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "train_images_per_s": round(images_per_s, 3),
        "peak_memory_mb": round(peak, 1),
        "memory_before_training_mb": round(rss_before, 1) if device == "cpu" else 0.0,
        "full_page_s": round(page_s, 2),
        "core_map": round(coco_map([(boxes[on_page], labels[on_page])], found, len(class_names), core), 4),
    }


def print_table(rows: list[dict], reference: dict) -> None:
    """A plain-text table with each figure's ratio to the reference in brackets."""
    keys = ["parameters_m", "train_images_per_s", "peak_memory_mb", "full_page_s", "core_map"]
    print(f"{'model':<22}" + "".join(f"{k:>26}" for k in keys))
    for row in rows:
        cells = []
        for key in keys:
            ratio = row[key] / reference[key] if reference[key] else float("nan")
            cells.append(f"{row[key]:>14g} ({ratio:6.2f}x)")
        print(f"{row['model']:<22}" + "".join(f"{c:>26}" for c in cells))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m detector.bench",
                                     description="Benchmark this detector against torchvision's FCOS.")
    parser.add_argument("--gpu-check", action="store_true",
                        help="the prepared Stage-2 GPU check instead (memory, img/s with AMP off/on, "
                             "DataLoader feed, torchvision FCOS; a tiny CPU run without CUDA)")
    parser.add_argument("--tiny", action="store_true",
                        help="with --gpu-check: the tiny config (seconds; what runs without CUDA)")
    parser.add_argument("--steps", type=int, default=None,
                        help="SGD steps per model (same for all; default: 30; --gpu-check: 20 timed "
                             "steps per row on GPU, 2 on CPU)")
    parser.add_argument("--device", default=None, choices=["cpu", "cuda"],
                        help="where to run (default: cpu; --gpu-check: cuda when present)")
    parser.add_argument("--out", default=None,
                        help="JSON results file (default: bench.json; --gpu-check: gpu_check.json)")
    parser.add_argument("--crop", type=int, default=256, help="training crop side, pixels (default: 256)")
    parser.add_argument("--batch", type=int, default=2, help="training batch size (default: 2)")
    parser.add_argument("--pages", type=int, default=8, help="synthetic pages (train + test; default: 8)")
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="synthetic DSv2 folder, generated there when missing "
                             "(default: data/bench_synthetic; --gpu-check: the DSv2 sample page)")
    parser.add_argument("--data-dir", dest="data", help=argparse.SUPPRESS)  # the old name, kept
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--models", default="quickstart,stage2,torchvision_fcos_r50",
                        help="comma-separated models to run, the reference last "
                             "(default: quickstart,stage2,torchvision_fcos_r50)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.gpu_check:
        from detector.benchmarks import gpu_check

        gpu_check.main(args.tiny, args.device, args.steps, args.data, args.out or "gpu_check.json")
        return
    if args.tiny:
        parser.error("--tiny goes with --gpu-check")
    args.steps = 30 if args.steps is None else args.steps
    args.device = args.device or "cpu"
    args.out = args.out or "bench.json"
    args.data = args.data or "data/bench_synthetic"
    options = {k: v for k, v in vars(args).items()}
    context = multiprocessing.get_context("spawn")
    rows = []
    for name in args.models.split(","):
        with context.Pool(1) as pool:
            row = pool.apply(measure, (name, options))
        print(json.dumps(row), flush=True)
        rows.append(row)
    reference = rows[-1]
    print_table(rows, reference)
    result = {"device": args.device, "steps": args.steps, "crop": args.crop, "batch": args.batch,
              "threads": args.threads, "reference": reference["model"], "rows": rows}
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
