"""Benchmark: how right is the recognised music? `python -m detector.benchmarks.music_bench`.

On synthetic pages (whose generator writes the true music), reads each page from its
ground-truth symbols minus stem/ledgerLine/beam (isolates this stage: those are rebuilt)
and, with --weights, from the detector's output (the whole pipeline); prints pitch and
duration accuracy, note F1, measure count accuracy and symbol error rate (see
`music_scoring.py`), plus the time per page.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Optional

from detector.data.deepscores import load_deepscores, load_page_image, split_json_path
from detector.benchmarks.music_scoring import MusicCounts, link_by_iou, score_page
from detector.reconstruct.pipeline import ReconstructError, detect_symbols, read_music
from detector.reconstruct.symbols import symbols_from_page

GOALS = {"pitch_accuracy": 0.99, "duration_accuracy": 0.97}


def bench_split(root: Path, split: str, weights: Optional[Path], max_pages: int) -> dict[str, MusicCounts]:
    """Counts from ground-truth symbols (and from detections when weights are given)."""
    pages = load_deepscores(split_json_path(root, split)).pages
    pages = [p for p in pages if (root / "music" / f"{Path(p.filename).stem}.json").exists()]
    if max_pages:
        pages = pages[:max_pages]
    totals = {"gt_symbols": MusicCounts()}
    if weights:
        totals["detector"] = MusicCounts()
    seconds = []
    for page in pages:
        truth = json.loads((root / "music" / f"{Path(page.filename).stem}.json").read_text())
        gray = load_page_image(page.path)
        t = time.perf_counter()
        score, _, used = read_music(gray, symbols_from_page(page), read_text=False)
        seconds.append(time.perf_counter() - t)
        totals["gt_symbols"].add(score_page(score, [s.id for s in used], truth))
        if weights:
            detected = detect_symbols(gray, weights, precision="fp32")
            score, _, used = read_music(gray, detected, read_text=False)
            ids = link_by_iou(_boxes(used), page.boxes, page.ann_ids)
            totals["detector"].add(score_page(score, ids, truth))
        print(f"  {page.filename}: {truth and len(truth['notes'])} true notes/rests, "
              f"{seconds[-1]:.2f} s", flush=True)
    if seconds:
        print(f"reconstruction from GT symbols: {sum(seconds) / len(seconds):.2f} s/page (structure + music)")
    return totals


def _boxes(symbols):
    import numpy as np

    return np.array([s.box for s in symbols], dtype=float).reshape(-1, 4)


def report(totals: dict[str, MusicCounts]) -> str:
    """Markdown table of the figures, one column per source, and the goals met or not."""
    summaries = {k: v.summary() for k, v in totals.items()}
    keys = list(next(iter(summaries.values())))
    lines = ["| metric | " + " | ".join(summaries) + " |", "|---" * (len(summaries) + 1) + "|"]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(f"{s[key]:.4f}" if isinstance(s[key], float) else str(s[key])
                                                for s in summaries.values()) + " |")
    gt = summaries["gt_symbols"]
    for key, goal in GOALS.items():
        verdict = "met" if gt[key] >= goal else "NOT met"
        lines.append(f"goal {key} >= {goal} from GT symbols: {verdict} ({gt[key]:.4f})")
    errors = totals["gt_symbols"].pitch_errors.most_common(8)
    if errors:
        lines.append("most frequent pitch errors (true->read): " + ", ".join(f"{k} x{v}" for k, v in errors))
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.benchmarks.music_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, metavar="DIR",
                        help="synthetic DSv2 folder with music/ (default: generate one)")
    parser.add_argument("--pages", type=int, default=16, help="pages to generate when --data is not given")
    parser.add_argument("--seed", type=int, default=1, help="generator seed when --data is not given")
    parser.add_argument("--split", default="test", help="split to score: test (validation) or train")
    parser.add_argument("--max-pages", type=int, default=0, help="score at most this many pages (0 = all)")
    parser.add_argument("--weights", default=None, metavar="CKPT",
                        help="also score the detector's output with this checkpoint")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    if args.data:
        root = Path(args.data)
    else:
        from detector.data.synth import ensure_synthetic_dataset

        root = ensure_synthetic_dataset(Path("data") / f"music_bench_s{args.seed}_p{args.pages}", args.pages,
                                        args.seed)
    try:
        totals = bench_split(root, args.split, Path(args.weights) if args.weights else None, args.max_pages)
    except (ReconstructError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(report(totals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
