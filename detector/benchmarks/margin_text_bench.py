"""How well part names and the first bar number are read: `python -m detector.benchmarks.margin_text_bench`.

On synthetic pages with true music (``python -m detector.synth``: instrument names on 60 % of
pieces, bar numbers at system starts or every 1, 5 or 10 bars), reads each page from its
ground-truth symbols (so staves and barlines are right and only the text reading is measured)
and compares with the engraved MEI: the name printed beside each part's first staff (``<label>``
on the first system of a piece, ``<labelAbbr>`` or nothing after) and the page's first bar
number (``<measure n>``). Prints, per page, what was read and expected, then the totals.

    python -m detector.benchmarks.margin_text_bench --data data/synthetic/s2-p200 --max-pages 40
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

MEI = "{http://www.music-encoding.org/ns/mei}"


@dataclass
class TextCounts:
    """Totals over pages."""

    pages: int = 0
    named_parts: int = 0  # parts with a printed name on this page
    names_right: int = 0  # ... read exactly
    unnamed_parts: int = 0  # parts with nothing printed beside them
    names_invented: int = 0  # ... given a name anyway
    first_bar_right: int = 0
    first_bar_printed: int = 0  # pages whose first bar is not 1 (only printed numbers can tell)
    first_bar_printed_right: int = 0
    seconds: float = 0.0

    def line(self) -> str:
        def share(a: int, b: int) -> str:
            return f"{a}/{b} ({a / b:.2f})" if b else "0/0"
        return (f"{self.pages} pages: part names right {share(self.names_right, self.named_parts)}, "
                f"invented for unnamed parts {share(self.names_invented, self.unnamed_parts)}; first bar "
                f"number right {share(self.first_bar_right, self.pages)}, on pages not starting at bar 1 "
                f"{share(self.first_bar_printed_right, self.first_bar_printed)}; "
                f"{self.seconds / max(self.pages, 1):.2f} s/page reading text")


def expected_text(mei_path: Path, first_system_of_piece: bool) -> tuple[dict[int, str], int]:
    """(staff number -> name printed beside it on the page's first system, first bar number)."""
    root = ET.parse(mei_path).getroot()
    names = {}
    for staff_def in root.iter(MEI + "staffDef"):
        number = int(staff_def.get("n", 0))
        label = staff_def.find(MEI + "label" if first_system_of_piece else MEI + "labelAbbr")
        text = "".join(label.itertext()).strip() if label is not None else ""
        names.setdefault(number, text)
    measure = next(root.iter(MEI + "measure"), None)
    return names, int(measure.get("n", 1)) if measure is not None else 1


def normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def bench(root: Path, split: str, max_pages: int, log=print) -> TextCounts:
    from detector.data.deepscores import load_deepscores, load_page_image, split_json_path
    from detector.reconstruct.margin_text import read_labels
    from detector.reconstruct.pipeline import read_music
    from detector.reconstruct.symbols import symbols_from_page

    pages = load_deepscores(split_json_path(root, split)).pages
    pages = [p for p in pages if (root / "music" / f"{Path(p.filename).stem}.mei").exists()]
    pages = pages[:max_pages] if max_pages else pages
    counts = TextCounts()
    for n, page in enumerate(pages, start=1):
        stem = Path(page.filename).stem
        truth = json.loads((root / "music" / f"{stem}.json").read_text())
        gray = load_page_image(page.path)
        score, _, _ = read_music(gray, symbols_from_page(page), read_text=False)
        started = time.perf_counter()
        read_labels(gray, score)
        counts.seconds += time.perf_counter() - started
        # the piece's first page shows full names; Verovio numbers staves in score order
        names, first_bar = expected_text(root / "music" / f"{stem}.mei",
                                         first_system_of_piece="page-1" in stem)
        order = sorted({(s["part"], s["staff_in_part"]) for s in truth["staves"]})
        staff_number = {s["index"]: order.index((s["part"], s["staff_in_part"])) + 1 for s in truth["staves"]}
        read, wanted = [], []
        for part in score.parts:
            first = part.systems[0][0] if part.systems and part.systems[0] else None
            if first is None or first.index not in staff_number:
                continue
            expected = names.get(staff_number[first.index], "")
            got = first.label
            read.append(got or "-")
            wanted.append(expected or "-")
            if expected:
                counts.named_parts += 1
                counts.names_right += normalise(got) == normalise(expected)
            else:
                counts.unnamed_parts += 1
                counts.names_invented += bool(got)
        counts.pages += 1
        counts.first_bar_right += score.first_measure == first_bar
        if first_bar != 1:
            counts.first_bar_printed += 1
            counts.first_bar_printed_right += score.first_measure == first_bar
        log(f"[{n}/{len(pages)}] {page.filename}: names {read} (true {wanted}); first bar "
            f"{score.first_measure} (true {first_bar})")
    return counts


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.benchmarks.margin_text_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True,
                        help="synthetic DSv2 folder with music/ (python -m detector.synth)")
    parser.add_argument("--split", default="train", help="split to read (default: train)")
    parser.add_argument("--max-pages", type=int, default=0, help="read at most this many pages (0 = all)")
    parser.add_argument("--out", default=None, metavar="JSON", help="also write the totals here")
    args = parser.parse_args(argv)
    root = Path(args.data)
    if not (root / "music").is_dir():
        print(f"error: {root} has no music/ folder (ground truth of synthetic pages)", file=sys.stderr)
        return 2
    from detector.reconstruct.text_ocr import ocr_unavailable_reason

    if ocr_unavailable_reason():
        print(f"error: {ocr_unavailable_reason()}", file=sys.stderr)
        return 2
    counts = bench(root, args.split, args.max_pages)
    print(counts.line())
    if args.out:
        Path(args.out).write_text(json.dumps(counts.__dict__, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
