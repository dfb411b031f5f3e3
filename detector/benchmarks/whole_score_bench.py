"""Whole scores against their truth: `python -m detector.benchmarks.whole_score_bench`.

Reads the consecutive pages of one synthetic piece (``python -m detector.data.synth.piece_pages``
writes them, with their true music) and compares, part by part, with the note error rates of
`end_to_end.py` (Levenshtein distance of pitch / pitch + duration tokens over true tokens):

- **page by page**: each page read alone, its staves given to the true parts by height (what
  `end_to_end.py` measures);
- **whole piece**: the pages assembled into ONE score (`whole_score.assemble_score`); each
  recognised part's notes over the whole piece, measures numbered through, against the true
  part's notes over all pages. A recognised part is given the true part most of its staves
  are on (each staff of a grand-staff part on its own: the truth may call a piano's staves two
  parts); ``swapped`` counts the staves of a part that are on another true part, ``split``
  the true parts spread over more than one recognised part (a part that restarted).

With ``--scales 0.5 0.75 1 2`` one page is also read at those scales (image resampled, its
symbols scaled with it): the pitch error rate should not move.

Measured (2 loaded CPU cores, shipped weights/default.pt, pages 1-12 of Beethoven op. 18 no. 1
mvt. 1 from ``piece_pages --pages 12 --pdf``, read from the 300-dpi PDF; 2661 true tokens):
note error rate pitch / pitch + duration 0.0188 / 0.0274 page by page and 0.0188 / 0.0274 over
the whole piece, 0 swapped staves, 0 split parts (GT symbols: 0.0015 / 0.0064 both ways).
Page 1 at x0.5, x0.67, x1, x2 (150, 200, 300, 600 dpi): pitch 0.0092, 0.0046, 0.0092, 0.0092;
without resampling into the trained range x0.5 gives 0.8165 and x0.67 0.0138.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from detector.benchmarks.end_to_end import _tokens, recognised_part_notes, true_part_notes
from detector.benchmarks.music_scoring import edit_distance, staff_map
from detector.reconstruct.page_scale import resample
from detector.reconstruct.symbols import Symbol
from detector.reconstruct.whole_score import PageMusic, assemble_score, read_page

#: Measure offset between pages of the truth (true measures are numbered per page).
PAGE_MEASURES = 100_000


@dataclass
class Rates:
    """Edit counts over true tokens, with part bookkeeping for the whole piece."""

    pitch_edits: int = 0
    full_edits: int = 0
    true_tokens: int = 0
    swapped: int = 0  # staves of a recognised part that lie on another true part
    split: int = 0  # true parts spread over more than one recognised part
    by_part: dict = field(default_factory=dict)  # true part -> (pitch NER, full NER, tokens)

    @property
    def pitch(self) -> float:
        return self.pitch_edits / max(self.true_tokens, 1)

    @property
    def full(self) -> float:
        return self.full_edits / max(self.true_tokens, 1)

    def add(self, part: int, read: list[tuple], truth: list[tuple]) -> None:
        read_pitch, read_full = _tokens(read)
        true_pitch, true_full = _tokens(truth)
        pitch, full = edit_distance(read_pitch, true_pitch), edit_distance(read_full, true_full)
        self.pitch_edits += pitch
        self.full_edits += full
        self.true_tokens += len(true_pitch)
        old = self.by_part.get(part, (0, 0, 0))
        self.by_part[part] = (old[0] + pitch, old[1] + full, old[2] + len(true_pitch))


def scaled_truth(truth: dict, factor: float) -> dict:
    """The truth with its staves' heights in a frame ``factor`` times the page's."""
    staves = [dict(s, y0=s["y0"] * factor, y1=s["y1"] * factor) for s in truth["staves"]]
    return dict(truth, staves=staves)


def page_by_page(pages: Sequence[PageMusic], truths: Sequence[dict], scales: Sequence[float]) -> Rates:
    """Each page alone against its truth (staves to true parts by height), summed."""
    rates = Rates()
    for page, truth, scale in zip(pages, truths, scales):
        framed = scaled_truth(truth, scale * page.scale.factor)
        read = recognised_part_notes(page.score, framed)
        for part, true_notes in true_part_notes(truth).items():
            rates.add(part, read.get(part, []), true_notes)
    return rates


def whole_piece(pages: Sequence[PageMusic], truths: Sequence[dict], scales: Optional[Sequence[float]] = None
                ) -> Rates:
    """The assembled score's parts over the whole piece against the true parts over all pages."""
    scales = scales or [1.0] * len(pages)
    true_of: dict[tuple[int, int], int] = {}  # (page, read staff index) -> true part
    for p, (page, truth, scale) in enumerate(zip(pages, truths, scales)):
        framed = scaled_truth(truth, scale * page.scale.factor)
        part_of = {s["index"]: s["part"] for s in truth["staves"]}
        for read_index, true_index in staff_map(page.score, framed["staves"]).items():
            true_of[(p, read_index)] = part_of[true_index]
    score = assemble_score(pages)
    read_notes: dict[int, list[tuple]] = defaultdict(list)
    owners: dict[int, set] = defaultdict(set)
    rates = Rates()
    for part in score.parts:
        for slot in range(part.staff_count):  # the truth may call a piano's staves two parts
            placed = [(page_no, staves[slot]) for page_no, staves in zip(part.system_pages, part.systems)]
            votes = Counter(true_of.get((page_no, s.index)) for page_no, s in placed if s.index >= 0)
            votes.pop(None, None)
            if not votes:
                continue
            target = votes.most_common(1)[0][0]
            owners[target].add(part.id)
            rates.swapped += sum(n for t, n in votes.items() if t != target)
            read_notes[target] += part_tokens(part, slot)
    rates.split = sum(len(ids) > 1 for ids in owners.values())
    truth_notes: dict[int, list[tuple]] = defaultdict(list)
    for p, truth in enumerate(truths):
        for part, notes in true_part_notes(truth).items():
            truth_notes[part] += [(p * PAGE_MEASURES + n[0], *n[1:]) for n in notes]
    for part, notes in truth_notes.items():
        rates.add(part, read_notes.get(part, []), notes)
    return rates


def part_tokens(part, slot: Optional[int] = None) -> list[tuple]:
    """(measure number through the score, onset, midi or -1, name, duration) of a part's notes
    (of its ``slot``-th staff only, when given)."""
    out, first = [], 0
    for staves in part.systems:
        for staff in (staves if slot is None else staves[slot:slot + 1]):
            for m, measure in enumerate(staff.measures):
                for event, onset in measure.timed_events():
                    if event.grace:
                        continue
                    if event.is_rest:
                        out.append((first + m, onset, -1, "r", event.duration))
                    for k, pitch in enumerate(event.pitches):
                        out.append((first + m, onset, pitch.midi(), pitch.name(), event.head_durations[k]))
        first += max((len(s.measures) for s in staves), default=0)
    return out


def scaled_page(gray: np.ndarray, symbols: list[Symbol], scale: float) -> tuple[np.ndarray, list[Symbol]]:
    """The page and its symbols as if scanned ``scale`` times as finely."""
    return resample(gray, scale), [Symbol(s.class_name, tuple(float(v) * scale for v in s.box), s.score, s.id)
                                   for s in symbols]


def load_piece(root: Path) -> tuple[list, list[dict]]:
    """The dataset's pages in page order with their truths (``--page-K`` ordered by K)."""
    from detector.data.deepscores import load_deepscores, split_json_path

    pages = load_deepscores(split_json_path(root, "test")).pages
    pages = sorted(pages, key=lambda p: int(Path(p.filename).stem.rsplit("--page-", 1)[-1]))
    truths = [json.loads((root / "music" / f"{Path(p.filename).stem}.json").read_text()) for p in pages]
    return pages, truths


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.benchmarks.whole_score_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True,
                        help="pages of one piece (python -m detector.data.synth.piece_pages)")
    parser.add_argument("--weights", default=None,
                        help="read with this detector (default: ground-truth symbols)")
    parser.add_argument("--pdf", default=None,
                        help="read the pages from this PDF of them (rendered at a dpi chosen per page) "
                             "instead of the images; needs --weights")
    parser.add_argument("--scales", type=float, nargs="*", default=[],
                        help="also read one page (--scale-page) at these scales, e.g. 0.5 0.75 1 2")
    parser.add_argument("--scale-page", type=int, default=1, help="page number read at --scales (from 1)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "auto"),
                        help="the detector's number format (default: fp32, figures independent of the CPU)")
    parser.add_argument("--out", default=None, help="write the figures (json) here")
    args = parser.parse_args(argv)
    from detector.data.deepscores import load_page_image
    from detector.reconstruct.page_sources import expand_inputs
    from detector.reconstruct.symbols import symbols_from_page

    pages, truths = load_piece(Path(args.data))
    source = f"detector {args.weights}" if args.weights else "ground-truth symbols"
    if args.pdf and not args.weights:
        parser.error("--pdf needs --weights (ground-truth symbols are in the images' pixels)")
    read, frames = [], []
    loaders = ([s.load for s in expand_inputs([args.pdf])] if args.pdf
               else [lambda p=p: load_page_image(p.path) for p in pages])
    for page, load in zip(pages, loaders):
        gray = load()
        frames.append(gray.shape[1] / page.width)  # a PDF page's render against the true page
        symbols = None if args.weights else symbols_from_page(page)
        read.append(read_page(gray, symbols, args.weights, name=page.filename, precision=args.precision))
        print(f"{page.filename}: {read[-1].seconds:.1f} s", flush=True)
    alone, whole = page_by_page(read, truths, frames), whole_piece(read, truths, frames)
    figures = {"source": source, "pages": len(pages), "true_tokens": whole.true_tokens,
               "page_by_page": {"pitch": alone.pitch, "pitch_duration": alone.full},
               "whole_piece": {"pitch": whole.pitch, "pitch_duration": whole.full,
                               "swapped_staves": whole.swapped, "split_parts": whole.split,
                               "by_part": {str(k): v for k, v in sorted(whole.by_part.items())}}}
    print(f"{len(pages)} pages, {source}: note error rate pitch / pitch+duration: page by page "
          f"{alone.pitch:.4f} / {alone.full:.4f}, whole piece {whole.pitch:.4f} / {whole.full:.4f}; "
          f"{whole.swapped} swapped staves, {whole.split} split parts")
    figures["scales"] = {}
    if args.scales:
        page, truth = pages[args.scale_page - 1], truths[args.scale_page - 1]
        gray = load_page_image(page.path)
        for scale in args.scales:
            started = time.perf_counter()
            scaled, symbols = scaled_page(gray, symbols_from_page(page), scale)
            result = read_page(scaled, None if args.weights else symbols, args.weights,
                               precision=args.precision)
            rates = page_by_page([result], [truth], [scale])
            figures["scales"][str(scale)] = {
                "pitch": rates.pitch, "pitch_duration": rates.full,
                "staff_space_px": result.scale.staff_space_px, "factor": result.scale.factor}
            print(f"{page.filename} at x{scale} ({scaled.shape[1]}x{scaled.shape[0]} px, staff space "
                  f"{result.scale.staff_space_px} px, resampled x{result.scale.factor:.2f}): pitch "
                  f"{rates.pitch:.4f}, pitch+duration {rates.full:.4f} "
                  f"({time.perf_counter() - started:.1f} s)", flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
