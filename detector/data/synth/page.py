"""Generate one synthetic page: draw a piece and a layout, add text, engrave, box, rasterise.

A page depends only on (seed, page index), so pages can be made in any order or in
parallel workers and the dataset is still the same bytes. The text of a page (titles,
lyrics, tempo and expression marks, fingerings, figured bass, ...: text.py) and its text
font (textfonts.py) come from a second random stream of the page, so the music and layout
drawn for a page are the ones the generator drew before it drew text.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from collections import Counter

import numpy as np

from detector.data.synth.boxes import SvgPage, parse_svg
from detector.data.synth.corpus import Piece, draw_piece
from detector.data.synth.dynamics import split_combined_dynamics
from detector.data.synth.engrave import (
    SVG_UNITS_PER_PX, VEROVIO_STAFF_SPACE, EngraveError, PageLayout, draw_layout, engrave, make_toolkit,
)
from detector.data.synth.groundtruth import onset_order, read_mei_events, staff_parts
from detector.data.synth.procedural import procedural_piece
from detector.data.synth.rasterize import rasterize
from detector.data.synth.text import TextPlan, add_text, draw_text_plan, verovio_options
from detector.data.synth.textfonts import apply_text_family, draw_family

#: Share of pages engraved from procedural passages (the rest is corpus music).
PROCEDURAL_FRACTION = 0.4
#: Pieces tried before a page index gives up (a corpus file Verovio cannot read, an empty page).
MAX_ATTEMPTS = 6
#: Entropy word of a page's text stream (the second seed of ``page_rng``'s sequence).
TEXT_STREAM = 1
#: Staff space in SVG units at Verovio scale 100.
SVG_STAFF_SPACE = VEROVIO_STAFF_SPACE * SVG_UNITS_PER_PX
_MEI_DATE = re.compile(r'isodate="[^"]*"')


@dataclass
class PageSymbol:
    """One box of the page in raster pixels, with its DSv2 class and annotation comment."""

    class_name: str
    box: tuple[float, float, float, float]  # [x0, y0, x1, y1] page px
    area: int  # ink pixels inside the box
    comment: str  # "mei:<xml:id>" for noteheads (and rests), else ""


@dataclass
class GeneratedPage:
    """Everything written for one page (annotation ids are given by the writer)."""

    index: int
    piece_key: str
    filename: str
    width: int
    height: int
    png: bytes
    symbols: list[PageSymbol]
    mei: str
    staves: list[dict]
    notes: list[dict]  # ground-truth notes; "ann_index" = index into symbols (or None)
    skipped: Counter = field(default_factory=Counter)


class PageGenerationError(RuntimeError):
    """No piece could be engraved for this page index."""


def page_rng(seed: int, index: int) -> np.random.Generator:
    """The page's own random stream: independent of every other page."""
    return np.random.default_rng([seed, index])


def draw_source(rng: np.random.Generator, seed: int, index: int, attempt: int) -> Piece:
    if rng.random() < PROCEDURAL_FRACTION:
        return procedural_piece(rng, key=f"procedural/{seed}/{index}/{attempt}")
    return draw_piece(rng)


def text_rng(seed: int, index: int, attempt: int) -> np.random.Generator:
    """The random stream of a page's text and text font (independent of its music)."""
    return np.random.default_rng([seed, index, TEXT_STREAM, attempt])


def engrave_text(toolkit, plan: TextPlan, rng: np.random.Generator) -> int:
    """Add ``plan``'s text to the piece loaded in ``toolkit`` and lay it out again; return the
    page count (the piece without text when Verovio cannot read it back)."""
    mei = toolkit.getMEI()
    toolkit.setOptions(verovio_options(plan))
    try:
        with_text = add_text(mei, plan, rng)
    except ET.ParseError:  # an MEI ElementTree cannot read (an undeclared prefix): no text added
        with_text = mei
    if not toolkit.loadData(with_text) or toolkit.getPageCount() < 1:
        toolkit.loadData(mei)
    return toolkit.getPageCount()


def generate_page(seed: int, index: int, toolkit=None, plan: TextPlan | None = None) -> GeneratedPage:
    """Generate page ``index`` of the dataset drawn from ``seed``.

    Args:
        plan: the kinds of text to draw (default: drawn from the page's text stream).

    Raises:
        PageGenerationError: every attempted piece failed to engrave or had no notes.
    """
    toolkit = toolkit or make_toolkit()
    rng = page_rng(seed, index)
    for attempt in range(MAX_ATTEMPTS):
        piece = draw_source(rng, seed, index, attempt)
        layout = draw_layout(rng)
        try:
            engrave(toolkit, piece, layout)
        except EngraveError:
            continue
        words = text_rng(seed, index, attempt)
        family = draw_family(words)
        n_pages = engrave_text(toolkit, plan or draw_text_plan(words), words)
        page_no = 1 + int(rng.integers(min(n_pages, 3)))
        svg = split_combined_dynamics(toolkit.renderToSVG(page_no), layout.font)
        svg = apply_text_family(svg, family)
        svg_page = parse_svg(svg, layout.font, SVG_STAFF_SPACE, text_family=family)
        if not any(s.class_name.startswith("notehead") for s in svg_page.symbols):
            continue
        mei = _MEI_DATE.sub('isodate=""', toolkit.getMEI({"pageNo": page_no}))
        png, alpha = rasterize(svg, layout.width_px, layout.height_px)
        stem = f"synth-s{seed}-{index:06d}-{layout.font.lower()}--page-{page_no}"
        try:
            return _assemble(index, piece, layout, stem, png, alpha, svg_page, mei)
        except ET.ParseError:  # Verovio wrote MEI that XML parsers reject: draw another piece
            continue
    raise PageGenerationError(f"page {index}: no piece could be engraved in {MAX_ATTEMPTS} attempts")


def _assemble(index, piece, layout: PageLayout, stem, png, alpha, svg_page: SvgPage, mei: str) -> GeneratedPage:
    height, width = alpha.shape
    sx, sy = width / svg_page.viewbox[0], height / svg_page.viewbox[1]
    symbols, symbol_of_id, skipped = [], {}, Counter(svg_page.skipped)
    staff_symbols: dict = {}
    for sym in svg_page.symbols:
        box = (max(0.0, sym.box[0] * sx), max(0.0, sym.box[1] * sy), min(float(width), sym.box[2] * sx), min(float(height), sym.box[3] * sy))
        if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
            skipped["empty box"] += 1
            continue
        ix0, iy0, ix1, iy1 = int(box[0]), int(box[1]), int(np.ceil(box[2])), int(np.ceil(box[3]))
        area = int(np.count_nonzero(alpha[iy0:iy1, ix0:ix1] >= 128))
        is_note = sym.class_name.startswith("notehead") or sym.class_name.startswith("rest")
        comment = f"mei:{sym.element_id}" if is_note and sym.element_id else ""
        if is_note and sym.element_id:
            symbol_of_id.setdefault(sym.element_id, len(symbols))
        if sym.class_name == "staff":
            staff_symbols[sym.staff_key] = box
        symbols.append(PageSymbol(sym.class_name, box, area, comment))
    staves, notes = _ground_truth(mei, svg_page, staff_symbols, symbol_of_id)
    return GeneratedPage(index, piece.key, f"{stem}.png", width, height, png, symbols, mei, staves, notes, skipped)


def _ground_truth(mei: str, svg_page: SvgPage, staff_boxes: dict, symbol_of_id: dict) -> tuple[list[dict], list[dict]]:
    """The page's staves (top to bottom) and its notes, linked to their boxes."""
    events, root = read_mei_events(mei)
    parts = staff_parts(root)
    order = sorted(staff_boxes, key=lambda k: (staff_boxes[k][1], staff_boxes[k][0]))
    index_of_key = {key: i for i, key in enumerate(order)}
    n_of_key = {}
    for ev in events:
        key = svg_page.staff_ids.get(ev.staff_id)
        if key is not None:
            n_of_key.setdefault(key, ev.staff_n)
    staves = []
    for key in order:
        part, in_part = parts.get(n_of_key.get(key, ""), (key[1], 0))
        box = staff_boxes[key]
        staves.append({"index": index_of_key[key], "part": part, "staff_in_part": in_part,
                       "y0": round(box[1], 3), "y1": round(box[3], 3)})

    def staff_of(ev) -> int:
        key = svg_page.note_staff.get(ev.mei_id) or svg_page.staff_ids.get(ev.staff_id)
        return index_of_key.get(key, -1)

    events = [ev for ev in events if ev.mei_id in symbol_of_id]  # drawn notes only (no box, no note)
    ranks = onset_order(events, staff_of)
    notes = []
    for ev, rank in zip(events, ranks):
        notes.append({
            "ann_index": symbol_of_id[ev.mei_id], "mei_id": ev.mei_id, "staff": staff_of(ev),
            "measure": ev.measure, "order": rank, "onset_quarters": float(ev.onset), "step": ev.step,
            "octave": ev.octave, "alter": ev.alter, "dur_quarters": float(ev.dur), "dots": ev.dots,
            "rest": ev.rest, "chord": ev.chord, "grace": ev.grace, "voice": ev.voice,
        })
    return staves, notes
