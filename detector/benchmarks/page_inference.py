"""Full-page inference time of a detector, against a plain torchvision ResNet-18 forward.

Why a reference: wall times on a shared machine say little on their own; a plain
``resnet18(weights=None)`` forward over the same whole page, timed in the same process and
the same number format (float32), turns them into a ratio that travels between machines.

    python -m detector.benchmarks.page_inference                       # the real DSv2 page
    python -m detector.benchmarks.page_inference --pages a.png b.png --precision fp32,bf16

Per page and precision it prints the tiles run, the best wall time of ``--repeats`` runs, the
process CPU seconds of that run, the detections kept at the operating threshold, and the
ratio to the reference; ``--out`` writes the same as JSON.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from detector.cli_args import OneLineArgumentParser, at_least

SAMPLE_PAGE = Path("tests/fixtures/deepscores_v2_sample/images/lg-5230237-aug-emmentaler--page-2.png")
DEFAULT_WEIGHTS = Path("weights/default.pt")


def build_parser() -> argparse.ArgumentParser:
    """The benchmark's arguments (``--help`` answers before torch is imported)."""
    parser = OneLineArgumentParser(prog="python -m detector.benchmarks.page_inference",
                                   description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS, metavar="CKPT",
                        help=f"detector to time (default: {DEFAULT_WEIGHTS})")
    parser.add_argument("--pages", type=Path, nargs="+", default=[SAMPLE_PAGE], metavar="PAGE",
                        help="page images (default: the real DSv2 sample page)")
    parser.add_argument("--precision", default="fp32,bf16",
                        help="comma-separated: fp32, bf16, auto (default: fp32,bf16)")
    parser.add_argument("--repeats", type=at_least(1), default=3,
                        help="timed runs; the best counts (default: 3)")
    parser.add_argument("--threads", type=at_least(1), default=2, help="torch CPU threads (default: 2)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument("--out", type=Path, default=None, metavar="JSON", help="also write the results here")
    return parser


def best_time(run, repeats: int) -> tuple[float, float, object]:
    """(best wall s, CPU s of that run, its result) over ``repeats`` calls of ``run()``."""
    import torch

    best = (float("inf"), 0.0, None)
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if wall < best[0]:
            best = (wall, cpu, result)
    return best


def reference_forward_s(page_shape: tuple[int, int], device: str, repeats: int) -> float:
    """Best wall time of a float32 torchvision resnet18 forward over a 3-channel page of this size."""
    import torch
    import torchvision

    net = torchvision.models.resnet18(weights=None).eval().to(device).to(memory_format=torch.channels_last)
    image = torch.rand(1, 3, *page_shape, device=device).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        net(image)  # warm-up: oneDNN picks its kernels on the first call
        return best_time(lambda: net(image), repeats)[0]


def run_benchmark(weights: Path, pages: list[Path], precisions: list[str], repeats: int, threads: int,
                  device: str) -> list[dict]:
    """One row per page and precision (see the module docstring)."""
    import torch

    from detector.data.deepscores import load_page_image
    from detector.model.model_io import load_model
    from detector.model.precision import resolve_precision
    from detector.model.tiled import detect_pages, ink_mask, tile_windows

    torch.set_num_threads(threads)
    model, cfg, _ = load_model(weights, device=device)
    model.float()
    rows = []
    for path in pages:
        page = load_page_image(path)
        reference = reference_forward_s(page.shape, device, repeats)
        tiles = len(tile_windows(ink_mask(page), cfg.model.tile_size, cfg.model.tile_overlap)[0])
        for precision in precisions:
            resolved = resolve_precision(precision, device)
            detect_pages(model, [page], cfg.model, device, precision=resolved)  # warm-up
            wall, cpu, found = best_time(
                lambda: detect_pages(model, [page], cfg.model, device, precision=resolved)[0], repeats)
            kept = int((found["scores"] >= cfg.eval.score_thresh).sum())
            rows.append({"page": str(path), "height": page.shape[0], "width": page.shape[1], "tiles": tiles,
                         "precision": resolved, "wall_s": round(wall, 3), "cpu_s": round(cpu, 2),
                         "detections": kept, "resnet18_fp32_s": round(reference, 3),
                         "ratio": round(wall / reference, 3)})
            print(f"{path.name} {page.shape[1]}x{page.shape[0]} px, {tiles} tiles, {resolved}: "
                  f"{wall:.2f} s wall ({cpu:.1f} CPU-s), {kept} detections >= {cfg.eval.score_thresh}; "
                  f"resnet18 fp32 forward {reference:.2f} s -> ratio {wall / reference:.2f}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    precisions = [name.strip() for name in args.precision.split(",") if name.strip()]
    for path in [args.weights, *args.pages]:
        if not path.exists():
            build_parser().error(f"no such file: {path}")
    from detector.model.precision import PRECISIONS

    unknown = [name for name in precisions if name not in PRECISIONS]
    if unknown or not precisions:
        build_parser().error(f"--precision takes {', '.join(PRECISIONS)}, got {args.precision!r}")
    rows = run_benchmark(args.weights, args.pages, precisions, args.repeats, args.threads, args.device)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
