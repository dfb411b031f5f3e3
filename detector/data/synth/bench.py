"""Benchmark: ``python -m detector.data.synth.bench [--pages N] [--seed S]``.

Prints pages per second of the page generator on one core (one process, one thread), the
share of that time spent rasterising with resvg (the dominant cost), and pages per CPU-second
(wall-clock figures on a shared machine depend on its load).
"""
from __future__ import annotations

import argparse
import time

from detector.data.synth import rasterize as rasterize_module
from detector.data.synth.engrave import make_toolkit
from detector.data.synth.page import generate_page


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, generate the pages, print the rates."""
    parser = argparse.ArgumentParser(prog="python -m detector.data.synth.bench",
                                     description="Pages per second of the synthetic page generator.")
    parser.add_argument("--pages", type=int, default=10, help="pages to generate (default: 10)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    args = parser.parse_args(argv)
    toolkit = make_toolkit()
    generate_page(args.seed, 10_000, toolkit)  # warm up: corpus index, font tables
    raster_seconds = 0.0
    original = rasterize_module.rasterize

    def timed(*a, **k):
        nonlocal raster_seconds
        start = time.perf_counter()
        out = original(*a, **k)
        raster_seconds += time.perf_counter() - start
        return out

    import detector.data.synth.page as page_module

    page_module.rasterize = timed
    start, cpu_start = time.perf_counter(), time.process_time()
    for index in range(args.pages):
        generate_page(args.seed, index, toolkit)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    page_module.rasterize = original
    print(f"{args.pages} pages in {elapsed:.2f} s: {args.pages / elapsed:.2f} pages/s on one core "
          f"(rasterising {100 * raster_seconds / elapsed:.0f}% of the time); "
          f"{args.pages / cpu:.2f} pages per CPU-second (the figure that a shared machine does not distort)")


if __name__ == "__main__":
    main()
