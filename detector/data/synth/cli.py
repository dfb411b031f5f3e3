"""Command line: ``python -m detector.synth --out DIR --pages N --seed S [--draw] [--workers K]``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m detector.synth",
        description="Generate synthetic DeepScoresV2-format pages (Verovio-engraved real and procedural "
                    "music, with titles, lyrics, tempo marks, fingerings, figured bass and other text).",
    )
    parser.add_argument("--out", required=True, type=Path, help="dataset folder to write (DSv2 layout)")
    parser.add_argument("--pages", type=int, default=60, help="number of pages, train + test (>= 2)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed: same seed, same pages")
    parser.add_argument("--draw", action="store_true", help="also write box overlays to OUT/overlays")
    parser.add_argument("--workers", type=int, default=None,
                        help="parallel processes (default: every core this process may use); "
                             "the pages are the same bytes whatever the count")
    parser.add_argument("--force", action="store_true", help="regenerate even if OUT already matches")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Generate (or reuse) the dataset and print where it is and what was left out."""
    args = parse_args(argv)
    from detector.data.synth.generate import (
        MANIFEST_NAME, available_cores, ensure_synthetic_dataset, generate_dataset,
    )
    from detector.data.synth.overlay import draw_overlays

    if args.pages < 2:
        print("error: --pages must be at least 2 (one train and one test page)", file=sys.stderr)
        return 2
    if args.workers is None:
        args.workers = available_cores()
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.force:
        generate_dataset(args.out, args.pages, args.seed, workers=args.workers, draw=args.draw)
    else:
        ensure_synthetic_dataset(args.out, args.pages, args.seed, workers=args.workers)
        if args.draw:
            draw_overlays(args.out)
    print(f"synthetic dataset: {args.out} (manifest {args.out / MANIFEST_NAME})")
    return 0
