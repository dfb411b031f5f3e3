"""``python -m detector.data.stats PATH``: what a DSv2-format annotation file holds.

Prints per-class instance counts before and after the class filter, box sizes per class
(median / min / max of width and height in page pixels) and what the reader skipped. PATH is
a DSv2 JSON file or a dataset folder (``--split`` picks the file, as training does).
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from typing import Optional, Sequence

import numpy as np

from detector.data.classes import CLASS_PRESETS, DSV2_CLASS_NAMES, UnknownClassError, resolve_classes
from detector.data.deepscores import DeepScoresFormatError, DeepScoresSplit, load_deepscores, split_json_path

DESCRIPTION = "Per-class counts and box sizes of a DSv2-format annotation file."


def box_sizes_by_class(split: DeepScoresSplit) -> dict[str, np.ndarray]:
    """Class name -> ``[N, 2]`` widths and heights (page pixels) of its boxes.

    Pages are read one at a time (the index reads them lazily) and kept as 10 bytes a box
    (float32 width and height, int16 class), not as one Python object per box.
    """
    code_of: dict[str, int] = defaultdict(lambda: len(code_of))
    sizes, codes = [], []
    for page in split.pages:
        sizes.append(page.boxes[:, 2:] - page.boxes[:, :2])  # [N, 2] float32
        codes.append(np.fromiter((code_of[n] for n in page.class_names), np.int16, len(page.class_names)))
    if not sizes:
        return {}
    all_sizes, all_codes = np.concatenate(sizes), np.concatenate(codes)
    return {name: all_sizes[all_codes == code].astype(np.float64) for name, code in code_of.items()}


def format_stats(split: DeepScoresSplit, class_filter: Sequence[str]) -> str:
    """The stats table of an unfiltered split: counts all/kept and box sizes, then the skips."""
    kept = set(class_filter)
    sizes = box_sizes_by_class(split)
    order = [n for n in DSV2_CLASS_NAMES if n in split.class_counts_all]
    lines = [
        f"{split.json_path}: {len(split.pages)} pages",
        f"{'class':34s} {'all':>7s} {'kept':>7s}   "
        f"{'w med':>7s} {'min':>6s} {'max':>7s}   {'h med':>7s} {'min':>6s} {'max':>7s}",
    ]
    for name in order:
        count = split.class_counts_all[name]
        w, h = sizes[name][:, 0], sizes[name][:, 1]
        lines.append(
            f"{name:34s} {count:7d} {count if name in kept else 0:7d}   "
            f"{np.median(w):7.1f} {w.min():6.1f} {w.max():7.1f}   "
            f"{np.median(h):7.1f} {h.min():6.1f} {h.max():7.1f}"
        )
    total_all = sum(split.class_counts_all.values())
    total_kept = sum(v for n, v in split.class_counts_all.items() if n in kept)
    lines.append(f"{'total':34s} {total_all:7d} {total_kept:7d}   ({len(kept)} classes in the filter)")
    missing = [n for n in class_filter if n not in split.class_counts_all]
    if missing:
        lines.append(f"filter classes with no instance here: {len(missing)}")
    skips = ", ".join(f"{k}={v}" for k, v in sorted(split.skipped.items())) or "nothing"
    lines.append(f"skipped/fixed by the reader: {skips}")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Command-line entry point; user mistakes end in one line on stderr and exit code 2."""
    parser = argparse.ArgumentParser(prog="python -m detector.data.stats", description=DESCRIPTION)
    parser.add_argument("path", help="a DSv2 JSON file or a dataset folder")
    parser.add_argument("--split", default="train", help="deepscores_<split>.json to read")
    parser.add_argument("--classes", default="stage2", help="preset or comma-separated names")
    parser.add_argument("--images", default=None, help="image folder (default <json dir>/images)")
    parser.add_argument("--no-images", action="store_true", help="do not check the page images (JSON only)")
    args = parser.parse_args(argv)
    try:
        spec = args.classes if args.classes in CLASS_PRESETS else [n.strip() for n in args.classes.split(",")]
        class_filter = resolve_classes(spec)
        json_path = split_json_path(args.path, args.split)
        split = load_deepscores(json_path, args.images, classes=None, check_images=not args.no_images)
    except (FileNotFoundError, DeepScoresFormatError, UnknownClassError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_stats(split, class_filter))
    return 0


if __name__ == "__main__":
    sys.exit(main())
