"""Size and opening time of the HTML report of a many-page score.

``python -m detector.benchmarks.report_bench [--pages 10] [--data DIR] [--weights CKPT]``

Reads ``--pages`` pages one by one (the synthetic pages engraved from real music of a
generated dataset, or of ``--data``, a DSv2-format folder; from their ground-truth symbols
unless ``--weights`` is given), writes one report with a section per page, and opens it in
headless Chromium (``headless_chromium.py``) a few times: prints the file size, the time to
the load event (median) and whether the console stayed clean.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from detector.benchmarks.headless_chromium import HeadlessChromium, chromium_path
from detector.data.deepscores import load_page_image
from detector.reconstruct.pipeline import (
    REBUILT_CLASSES, PageResult, detect_symbols, read_detections, read_music,
)
from detector.reconstruct.report_html import page_section, write_html_report

#: Size and opening time the report must stay under for a 10-page score (issue 15).
TARGET_MB, TARGET_LOAD_S = 20.0, 2.0


def page_files(root: Path, pages: int) -> list[tuple[Path, Path]]:
    """(image, annotation file) of up to ``pages`` pages of a DSv2-format folder, real music first."""
    found = []
    for split in ("train", "test"):
        annotation_file = root / f"deepscores_{split}.json"
        if not annotation_file.exists():
            continue
        for image in json.loads(annotation_file.read_text())["images"]:
            music = root / "music" / (Path(image["filename"]).stem + ".json")
            piece = json.loads(music.read_text()).get("piece", "") if music.exists() else ""
            image_path = root / "images" / image["filename"]
            found.append((piece.startswith("procedural"), image_path, annotation_file))
    found.sort(key=lambda f: f[0])
    return [(image, annotation_file) for _, image, annotation_file in found[:pages]]


def read_page(image: Path, annotations: Path, weights: Optional[Path]) -> tuple:
    """The page's pixels and its ``PageResult`` (detected with ``weights``, or from its annotations)."""
    gray = load_page_image(image)
    low: list = []
    symbols = detect_symbols(gray, weights, low=low) if weights else read_detections(annotations, image)
    symbols = [s for s in symbols if s.class_name not in REBUILT_CLASSES]
    score, structure, used = read_music(gray, symbols)
    return gray, PageResult(score, structure, used, detected=symbols, low_confidence=low)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.benchmarks.report_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10, help="pages in the report (default 10)")
    parser.add_argument("--data", type=Path, default=None,
                        help="DSv2-format folder to take the pages from (default: a synthetic dataset of "
                             "seed 0 generated under data/report_bench)")
    parser.add_argument("--weights", type=Path, default=None,
                        help="detect the symbols with this checkpoint instead of reading the annotations")
    parser.add_argument("--out", type=Path, default=Path("runs/report_bench/report.html"),
                        help="report to write")
    parser.add_argument("--loads", type=int, default=3, help="times the report is opened (default 3)")
    args = parser.parse_args(argv)
    root = args.data
    if root is None:
        from detector.data.synth import ensure_synthetic_dataset

        # 40 % of synthetic pages are procedural: generate enough for --pages of real music
        root = ensure_synthetic_dataset(Path("data/report_bench"), pages=2 * args.pages, seed=0)
    files = page_files(root, args.pages)
    sections, started = [], time.perf_counter()
    for number, (image, annotation_file) in enumerate(files, start=1):
        t = time.perf_counter()
        gray, page = read_page(image, annotation_file, args.weights)
        read_s = time.perf_counter() - t
        sections.append(page_section(image.name, gray, page, number=number))
        print(f"page {number}: {image.name}: read {read_s:.1f} s, report {sections[-1].seconds:.1f} s, "
              f"{sections[-1].systems} systems, {sections[-1].marked_bars}/{sections[-1].bars} bars doubtful",
              flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    path = write_html_report(sections, args.out, title=f"Report benchmark: {len(files)} pages of {root}")
    size_mb = path.stat().st_size / 1e6
    print(f"report: {path}, {len(files)} pages, {sum(s.systems for s in sections)} systems, "
          f"{size_mb:.2f} MB, built in {time.perf_counter() - started:.1f} s")
    if chromium_path() is None:
        print("chromium is not installed: load time not measured")
        return 0
    loads, errors = [], []
    with HeadlessChromium() as browser:
        for _ in range(args.loads):
            loads.append(browser.open(path.resolve().as_uri()))
            pictures = browser.evaluate("[...document.querySelectorAll('figure img')]"
                                        ".filter(i => i.complete && i.naturalWidth > 0).length")
        errors = [text for level, text in browser.console if level == "error"]
    load_s = statistics.median(loads)
    print(f"opens in {load_s:.2f} s (median of {len(loads)}: {', '.join(f'{s:.2f}' for s in loads)}), "
          f"{pictures} pictures shown, {len(errors)} console errors; targets: < {TARGET_LOAD_S:g} s, "
          f"< {TARGET_MB:g} MB: {'met' if load_s < TARGET_LOAD_S and size_mb < TARGET_MB else 'NOT met'}")
    return 0 if not errors else 1


if __name__ == "__main__":
    sys.exit(main())
