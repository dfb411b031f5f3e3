"""End to end, image -> music: `python -m detector.benchmarks.end_to_end`.

Reads synthetic pages (their generator wrote the true music: `music/<stem>.json` and `.mei`)
the way a user does, from the page image, and compares the recognised music with the truth,
part by part:

- note error rate: Levenshtein distance between the recognised and the true note/rest
  sequence of each part, divided by the true sequence's length, summed over parts. One token
  per note (a chord gives one per pitch) or rest, in time order (measure, onset, pitch); two
  variants: pitch only (`C#4`, `r`) and pitch + duration (`C#4:1/2`).
- pitch accuracy: the share of true notes whose own notehead was read with the right pitch
  (linked by annotation id from ground-truth symbols, by box IoU >= 0.5 from detections).

Each page is put in one kind by its true music (piano, voice + piano, ensemble, solo; the
generator's made-up rare-symbol passages are "procedural" and kept out of the "all music" row) and
flagged "text" when its MEI carries lyrics, titles, tempo or other words, so the table shows
where reading breaks. Sources: `gt` (the page's ground-truth symbols minus stem/ledgerLine/beam,
which reconstruction rebuilds: isolates reading) and `detector` (with --weights: the whole path).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Optional, Sequence

from detector.benchmarks.music_scoring import SummedCounts, edit_distance

#: MEI elements whose presence makes a page a "text" page (words drawn on it).
TEXT_ELEMENTS = ("verse", "pgHead", "pgFoot", "tempo", "dir", "harm", "fb", "reh", "fing", "label", "title")
MEI_NS = "{http://www.music-encoding.org/ns/mei}"


@dataclass
class PartCounts(SummedCounts):
    """Edit counts of one source over a set of pages (rates by `rates`)."""

    pitch_edits: int = 0
    full_edits: int = 0
    true_tokens: int = 0
    pitch_right: int = 0
    pitch_total: int = 0
    pages: int = 0
    seconds: float = 0.0

    def rates(self) -> dict[str, float]:
        return {
            "note_error_rate_pitch": self.pitch_edits / max(self.true_tokens, 1),
            "note_error_rate_pitch_duration": self.full_edits / max(self.true_tokens, 1),
            "pitch_accuracy": self.pitch_right / max(self.pitch_total, 1),
            "true_tokens": self.true_tokens,
            "pages": self.pages,
            "seconds_per_page": self.seconds / max(self.pages, 1),
        }


@dataclass
class PageKind:
    """What a page holds, from its true music."""

    kind: str  # piano | voice + piano | ensemble | solo
    text: bool
    counts: dict = field(default_factory=dict)


def page_kind(truth: dict, mei_path: Optional[Path]) -> PageKind:
    """The page's kind (see module docstring) from its true staves and its MEI's elements."""
    tags: set[str] = set()
    if mei_path is not None and mei_path.exists():
        tags = {el.tag.replace(MEI_NS, "") for el in ET.parse(mei_path).iter()}
    parts = defaultdict(int)  # staves per part (in one system)
    for staff in truth["staves"]:
        parts[staff["part"]] = max(parts[staff["part"]], staff["staff_in_part"] + 1)
    if truth.get("piece", "").startswith("procedural/"):
        return PageKind("procedural", bool(tags & set(TEXT_ELEMENTS)))
    grand = any(n >= 2 for n in parts.values())
    lyrics = "verse" in tags or "syl" in tags
    if grand and lyrics and len(parts) >= 2:
        kind = "voice + piano"
    elif grand and len(parts) == 1:
        kind = "piano"
    elif len(parts) >= 2:
        kind = "ensemble"
    else:
        kind = "solo"
    return PageKind(kind, bool(tags & set(TEXT_ELEMENTS)))


def _tokens(notes: list[tuple]) -> tuple[list[str], list[str]]:
    """(pitch-only, pitch+duration) tokens of (measure, onset, midi or -1, name, duration) in time order."""
    ordered = sorted(notes, key=lambda n: n[:3])
    return [n[3] for n in ordered], [f"{n[3]}:{n[4]}" for n in ordered]


def true_part_notes(truth: dict) -> dict[int, list[tuple]]:
    """True notes/rests by part: (measure rank, onset, midi, name, duration)."""
    part_of = {s["index"]: s["part"] for s in truth["staves"]}
    notes = [n for n in truth["notes"] if not n["grace"]]
    ranks = {m: k for k, m in enumerate(sorted({n["measure"] for n in notes}))}
    out: dict[int, list[tuple]] = defaultdict(list)
    for n in notes:
        dur = Fraction(n["dur_quarters"]).limit_denominator(256)
        onset = Fraction(n["onset_quarters"]).limit_denominator(256)
        if n["rest"]:
            out[part_of[n["staff"]]].append((ranks[n["measure"]], onset, -1, "r", dur))
        else:
            from detector.reconstruct.pitch import Pitch

            pitch = Pitch(n["step"], int(n["octave"]), int(n["alter"] or 0))
            out[part_of[n["staff"]]].append((ranks[n["measure"]], onset, pitch.midi(), pitch.name(), dur))
    return out


def recognised_part_notes(score, truth: dict) -> dict[int, list[tuple]]:
    """Recognised notes/rests by TRUE part (each recognised staff goes to the true staff at its
    height): (measure index on the page, onset in its voice, midi or -1, name, duration)."""
    from detector.benchmarks.music_scoring import staff_map

    part_of = {s["index"]: s["part"] for s in truth["staves"]}
    mapping = staff_map(score, truth["staves"])
    out: dict[int, list[tuple]] = defaultdict(list)
    for read_part in score.parts:
        first = 0  # measures of the part's earlier systems: the page's measures run on through systems
        for staves in read_part.systems:
            for staff in staves:
                if staff.index not in mapping:
                    continue
                part = part_of[mapping[staff.index]]
                for m, measure in enumerate(staff.measures):
                    for event, onset in measure.timed_events():
                        if event.grace:
                            continue
                        if event.is_rest:
                            out[part].append((first + m, onset, -1, "r", event.duration))
                        for k, pitch in enumerate(event.pitches):
                            out[part].append((first + m, onset, pitch.midi(), pitch.name(),
                                              event.head_durations[k]))
            first += max(len(s.measures) for s in staves)
    return out


def score_page(score, symbol_ids: Sequence[Optional[str]], truth: dict) -> PartCounts:
    """Edit counts and pitch accuracy of one page's recognised score against its truth."""
    from detector.benchmarks.music_scoring import score_page as linked_counts

    counts = PartCounts(pages=1)
    true_parts, read_parts = true_part_notes(truth), recognised_part_notes(score, truth)
    for part, true_notes in true_parts.items():
        true_pitch, true_full = _tokens(true_notes)
        read_pitch, read_full = _tokens(read_parts.get(part, []))
        counts.pitch_edits += edit_distance(read_pitch, true_pitch)
        counts.full_edits += edit_distance(read_full, true_full)
        counts.true_tokens += len(true_pitch)
    linked = linked_counts(score, symbol_ids, truth)
    counts.pitch_right, counts.pitch_total = linked.pitch_right, linked.pitch_total
    return counts


def trained_pieces(folders: Sequence[Path]) -> set[str]:
    """Pieces of the train split of synthetic datasets (what a detector trained on them saw).

    A ``.json`` file instead of a folder is a saved list (``{"pieces": [...]}``, e.g.
    ``weights/trained_pieces.json`` for the shipped detector), so the exclusion works on a
    machine that never generated the training data.
    """
    from detector.data.deepscores import split_json_path

    pieces = set()
    for folder in folders:
        if folder.suffix == ".json":
            pieces.update(json.loads(folder.read_text())["pieces"])
            continue
        images = json.loads(split_json_path(folder, "train").read_text())["images"]
        for image in images:
            music = folder / "music" / f"{Path(image['filename']).stem}.json"
            if music.exists():
                pieces.add(json.loads(music.read_text())["piece"])
    return pieces


def cached_detections(gray, weights: Path, cache: Optional[Path], stem: str, precision: str = "fp32") -> list:
    """The detector's symbols of a page, kept in ``cache`` (one JSON per page, weights file and
    number format) so that reading can be changed and measured again without running the detector
    again. ``precision``: ``fp32`` or ``bf16`` (``model/precision.py``)."""
    from detector.reconstruct.pipeline import detect_symbols
    from detector.reconstruct.symbols import Symbol

    path = None
    if cache is not None:
        format_tag = "" if precision == "fp32" else f".{precision}"  # fp32 files keep their old names
        path = cache / f"{stem}.{weights.stem}.{weights.stat().st_size}{format_tag}.json"
        if path.exists():
            return [Symbol(n, tuple(b), sc, i) for n, b, sc, i in json.loads(path.read_text())]
    symbols = detect_symbols(gray, weights, precision=precision)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([[s.class_name, list(s.box), s.score, s.id] for s in symbols]))
    return symbols


def bench(root: Path, split: str, weights: Optional[Path], max_pages: int, exclude: Sequence[Path] = (),
          log=print, cache: Optional[Path] = None,
          precision: str = "fp32") -> dict[tuple[str, str, bool], PartCounts]:
    """Counts keyed by (source, page kind, text) over the split's pages that have true music,
    leaving out pieces of the train split of the `exclude` datasets."""
    from detector.benchmarks.music_scoring import link_by_iou
    from detector.data.deepscores import load_deepscores, load_page_image, split_json_path
    from detector.reconstruct.pipeline import read_music
    from detector.reconstruct.symbols import boxes_of, symbols_from_page

    pages = load_deepscores(split_json_path(root, split)).pages
    pages = [p for p in pages if (root / "music" / f"{Path(p.filename).stem}.json").exists()]
    seen = trained_pieces(exclude)
    truths = {p.filename: json.loads((root / "music" / f"{Path(p.filename).stem}.json").read_text())
              for p in pages}
    left_out = [p for p in pages if truths[p.filename]["piece"] in seen]
    if left_out:
        log(f"left out {len(left_out)} page(s) of pieces in the training data: "
            + ", ".join(sorted({truths[p.filename]['piece'] for p in left_out})))
    pages = [p for p in pages if truths[p.filename]["piece"] not in seen]
    pages = pages[:max_pages] if max_pages else pages
    totals: dict[tuple[str, str, bool], PartCounts] = defaultdict(PartCounts)
    for n, page in enumerate(pages, start=1):
        stem = Path(page.filename).stem
        truth = truths[page.filename]
        kind = page_kind(truth, root / "music" / f"{stem}.mei")
        gray = load_page_image(page.path)
        sources = [("gt", lambda: symbols_from_page(page))]
        if weights is not None:
            sources.append(("detector", lambda: cached_detections(gray, weights, cache, stem, precision)))
        line = []
        for source, symbols_of in sources:
            t = time.perf_counter()
            score, _, used = read_music(gray, symbols_of(), read_text=False)  # notes only: no OCR
            ids = ([s.id for s in used] if source == "gt"
                   else link_by_iou(boxes_of(used), page.boxes, page.ann_ids))
            counts = score_page(score, ids, truth)
            counts.seconds = time.perf_counter() - t
            totals[(source, kind.kind, kind.text)].add(counts)
            rates = counts.rates()
            line.append(f"{source} pitch NER {rates['note_error_rate_pitch']:.3f} "
                        f"full {rates['note_error_rate_pitch_duration']:.3f}")
        described = kind.kind + (", text" if kind.text else "")
        log(f"[{n}/{len(pages)}] {page.filename} ({described}): " + "; ".join(line))
    return totals


def table(totals: dict[tuple[str, str, bool], PartCounts]) -> str:
    """Markdown table: one row per source and page kind, then one 'all' row per source."""
    rows = ["| source | pages | kind | text | true notes | note error rate (pitch) | "
            "note error rate (pitch + duration) | pitch accuracy | s/page |", "|---" * 9 + "|"]
    sources = sorted({k[0] for k in totals}, key=lambda s: (s != "gt", s))
    for source in sources:
        keys = sorted(k for k in totals if k[0] == source)
        overall = PartCounts()
        for key in keys:
            if key[1] != "procedural":  # made-up rare-symbol passages, not music: kept out of "all"
                overall.add(totals[key])
        for label, counts, kind, text in [*[(k, totals[k], k[1], "yes" if k[2] else "no") for k in keys],
                                          (None, overall, "**all music**", "")]:
            r = counts.rates()
            rows.append(f"| {source} | {r['pages']} | {kind} | {text} | {r['true_tokens']} | "
                        f"{r['note_error_rate_pitch']:.3f} | {r['note_error_rate_pitch_duration']:.3f} | "
                        f"{r['pitch_accuracy']:.3f} | {r['seconds_per_page']:.1f} |")
    return "\n".join(rows)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.benchmarks.end_to_end",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True,
                        help="synthetic DSv2 folder with music/ (python -m detector.synth)")
    parser.add_argument("--split", default="test",
                        help="split to read: test (pieces never trained on) or train")
    parser.add_argument("--max-pages", type=int, default=0, help="read at most this many pages (0 = all)")
    parser.add_argument("--weights", default=None, help="also read the pages with this detector checkpoint")
    parser.add_argument("--exclude-train-of", nargs="*", default=[], metavar="DIR|JSON",
                        help="leave out pieces of these synthetic datasets' train split (seen in training), "
                             "or of a saved piece list such as weights/trained_pieces.json")
    parser.add_argument("--cache", default=None, metavar="DIR",
                        help="keep the detector's output per page here and reuse it on later runs")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"),
                        help="the detector's number format (default: fp32)")
    parser.add_argument("--out", default=None, help="write the table (markdown) and the figures (json) here")
    args = parser.parse_args(argv)
    root = Path(args.data)
    if not (root / "music").is_dir():
        print(f"error: {root} has no music/ folder (ground-truth music of synthetic pages)", file=sys.stderr)
        return 2
    if args.weights and not Path(args.weights).exists():
        print(f"error: no such weights file: {args.weights}", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(max(1, torch.get_num_threads()))
    for folder in args.exclude_train_of:
        if folder.endswith(".json") and Path(folder).is_file():
            continue  # a saved piece list (weights/trained_pieces.json)
        if not (Path(folder) / "music").is_dir():
            print(f"error: --exclude-train-of {folder}: no synthetic dataset there (music/ missing)",
                  file=sys.stderr)
            return 2
    totals = bench(root, args.split, Path(args.weights) if args.weights else None, args.max_pages,
                   [Path(f) for f in args.exclude_train_of], cache=Path(args.cache) if args.cache else None,
                   precision=args.precision)
    text = table(totals)
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "end_to_end.md").write_text(text + "\n")
        figures = [{"source": k[0], "kind": k[1], "text": k[2], **v.rates()}
                   for k, v in sorted(totals.items())]
        (out / "end_to_end.json").write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
