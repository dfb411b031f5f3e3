"""The recognition report: one self-contained HTML file that shows each system of the scan with
its detections above the same system engraved again from the recognised music (Verovio), with
the doubtful bars (``doubts.py``) marked on both and counted in a summary.

Pictures are embedded as data URIs (PNG crops of the scan, Verovio's SVG), the page has no
script and needs no server or network. A report is a list of page sections
(``page_section``), so a multi-page score is several sections in one file
(``write_html_report``). Every mark is an element a test can count: ``div.system`` per system
(``data-bars``, ``data-marked``), ``div.mark`` per marked place on each picture.
"""
from __future__ import annotations

import base64
import html
import io
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

from detector.reconstruct.doubts import (
    KINDS, LOW_SCORE_FLOOR, Doubt, PageDoubts, SystemLayout, find_doubts, is_music_class,
)
from detector.reconstruct.system_engraving import (
    DOUBT_COLOUR, Engraving, engrave_system, new_toolkit, system_musicxml,
)

#: The scan crops are scaled down to this width (px): a staff space of 20-25 px at 300 dpi
#: stays 10 px or more, noteheads and accidentals stay legible, and a page costs ~0.3 MB.
CROP_WIDTH_PX = 1400

#: Colours of the picture-in-picture palette (a PNG with few colours is small).
PNG_COLOURS = 48

#: How far above the top staff and below the bottom staff a system's crop reaches (staff
#: spaces): ledger-line notes up to about four lines out stay in the picture.
CROP_MARGIN_SS = 5.0

#: Box colours by class family, as in ``music_overlay.py`` where they overlap.
COLOURS = {
    "notehead": (220, 0, 0), "rest": (150, 0, 200), "clef": (0, 150, 0), "key": (0, 150, 0),
    "timeSig": (0, 150, 0), "accidental": (0, 90, 255), "stem": (255, 140, 0), "flag": (0, 150, 150),
    "augmentationDot": (0, 150, 150), "low": (255, 0, 200),
}
OTHER_COLOUR = (120, 120, 120)
SKIPPED_CLASSES = ("staff", "ledgerLine")


@dataclass
class PageSection:
    """One page of the report: its HTML and its counts."""

    name: str
    html: str
    systems: int
    bars: int
    marked_bars: int
    by_part: dict[str, tuple[int, int]] = field(default_factory=dict)  # part -> (doubtful, bars)
    seconds: float = 0.0


def _colour(class_name: str) -> tuple[int, int, int]:
    for prefix, colour in COLOURS.items():
        if class_name.startswith(prefix):
            return colour
    return OTHER_COLOUR


def _png_data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.quantize(PNG_COLOURS, method=Image.Quantize.MEDIANCUT).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def crop_box(layout: SystemLayout, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """The system's crop of the page ``[x0, y0, x1, y1]`` (px): its staves, CROP_MARGIN_SS above and below."""
    staves = [s.staff for s in layout.staves]
    ss = float(np.median([s.staff_space_px for s in staves]))
    h, w = shape
    y0 = min(float(np.min(s.line_ys[0])) for s in staves) - CROP_MARGIN_SS * ss
    y1 = max(float(np.max(s.line_ys[4])) for s in staves) + CROP_MARGIN_SS * ss
    x0 = min(float(s.xs[0]) for s in staves) - 3.0 * ss
    x1 = max(float(s.xs[-1]) for s in staves) + 1.0 * ss
    return max(0, int(x0)), max(0, int(y0)), min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))


def draw_scan(gray: np.ndarray, page, layout: SystemLayout, box: tuple[int, int, int, int]) -> Image.Image:
    """The system's crop with its detections, rebuilt stems, barlines and left-out low-score symbols drawn."""
    x0, y0, x1, y1 = box
    image = Image.fromarray(gray[y0:y1, x0:x1]).convert("RGB")
    draw = ImageDraw.Draw(image)
    structure = page.structure
    indices = {s.index for s in layout.staves}
    for symbol, ink_box, staff in zip(structure.symbols, structure.ink_boxes, structure.staff_of):
        if int(staff) not in indices or symbol.class_name in SKIPPED_CLASSES:
            continue
        bx0, by0, bx1, by1 = (float(v) for v in ink_box)
        draw.rectangle([bx0 - x0, by0 - y0, bx1 - x0, by1 - y0], outline=_colour(symbol.class_name), width=2)
    for s in getattr(page, "low_confidence", []) or []:
        if s.score < LOW_SCORE_FLOOR or not is_music_class(s.class_name):
            continue  # what doubts.low_score_doubts would never name
        bx0, by0, bx1, by1 = structure.frame.to_ink(s.box)
        if bx1 > x0 and bx0 < x1 and by1 > y0 and by0 < y1:
            draw.rectangle([bx0 - x0, by0 - y0, bx1 - x0, by1 - y0], outline=COLOURS["low"], width=3)
    for staff in layout.staves:
        ss = float(staff.staff.staff_space_px)
        for x in staff.barlines:
            top, bottom = float(staff.staff.y_at(0, x)), float(staff.staff.y_at(4, x))
            draw.line([(x - x0, top - y0 - 0.5 * ss), (x - x0, bottom - y0 + 0.5 * ss)],
                      fill=(0, 90, 255), width=3)
    scale = min(1.0, CROP_WIDTH_PX / max(1, image.width))
    if scale < 1.0:
        size = (CROP_WIDTH_PX, max(1, int(round(image.height * scale))))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def _mark(box: Sequence[float], title: str, bar: Optional[int], kinds: str) -> str:
    x0, y0, x1, y1 = (100.0 * float(np.clip(v, 0.0, 1.0)) for v in box)
    return (f'<div class="mark {kinds}" data-bar="{"" if bar is None else bar}" title="{html.escape(title)}" '
            f'style="left:{x0:.2f}%;top:{y0:.2f}%;width:{max(x1 - x0, 0.4):.2f}%;'
            f'height:{max(y1 - y0, 0.4):.2f}%">'
            f'</div>')


def _scan_marks(doubts: Sequence[Doubt], box: tuple[int, int, int, int], layout: SystemLayout) -> list[str]:
    """One mark per doubtful place, in fractions of the crop."""
    x0, y0, x1, y1 = box
    w, h = max(1, x1 - x0), max(1, y1 - y0)
    marks = []
    for d in doubts:
        if d.box is None:
            continue
        b = d.box
        bar = None if d.bar is None else layout.first_bar + d.bar
        marks.append(_mark(((b[0] - x0) / w, (b[1] - y0) / h, (b[2] - x0) / w, (b[3] - y0) / h),
                           f"bar {bar}: {d.text}" if bar else d.text, bar, d.kind))
    return marks


def _engraving_marks(doubts: Sequence[Doubt], engraving: Engraving, layout: SystemLayout) -> list[str]:
    """One mark per doubtful (bar, staff) of the engraving, over that staff's bar."""
    row_of = {s.index: k for k, s in enumerate(layout.staves)}
    texts: dict[tuple[int, int], list[str]] = {}
    for d in doubts:
        if d.bar is not None and d.staff in row_of:
            texts.setdefault((d.bar, row_of[d.staff]), []).append(d.text)
    marks = []
    for (j, k), lines in sorted(texts.items()):
        if j < len(engraving.bar_boxes) and k < len(engraving.bar_boxes[j]) and engraving.bar_boxes[j][k]:
            kinds = " ".join(sorted({d.kind for d in doubts if d.bar == j and row_of.get(d.staff) == k}))
            marks.append(_mark(engraving.bar_boxes[j][k], f"bar {layout.first_bar + j}: " + "; ".join(lines),
                               layout.first_bar + j, kinds))
    return marks


def _system_html(page_id: str, gray: np.ndarray, page, doubts: PageDoubts, layout: SystemLayout,
                 toolkit) -> str:
    """One system: the scan's crop above its engraving, each with its marks, then the list of doubts."""
    mine = [d for d in doubts.doubts if d.system == layout.index]
    row_of = {s.index: k for k, s in enumerate(layout.staves)}
    doubtful = {(d.bar, row_of[d.staff]) for d in mine if d.bar is not None and d.staff in row_of}
    engraving = engrave_system(system_musicxml(page.score, doubts.systems, layout.index), doubtful, toolkit)
    box = crop_box(layout, gray.shape)
    scan = draw_scan(gray, page, layout, box)
    marked = sorted({d.bar for d in mine if d.bar is not None})
    last = layout.first_bar + max(layout.bar_count - 1, 0)
    items = "".join(
        f'<li class="{d.kind}" data-bar="{"" if d.bar is None else layout.first_bar + d.bar}">'
        f'{"bar " + str(layout.first_bar + d.bar) + ", " if d.bar is not None else ""}'
        f'staff {d.staff + 1}{" (" + d.part + ")" if d.part else ""}: {html.escape(d.text)}</li>'
        for d in sorted(mine, key=lambda d: (d.bar if d.bar is not None else -1, d.staff)))
    engraved = (f'<img src="{_svg_data_uri(engraving.svg)}" alt="system {layout.index + 1} engraved" '
                f'style="max-width:{engraving.width_px:.0f}px">'
                + "".join(_engraving_marks(mine, engraving, layout))
                if engraving.svg else '<p class="error">Verovio could not engrave this system</p>')
    return (
        f'<div class="system" id="{page_id}-s{layout.index + 1}" data-bars="{layout.bar_count}" '
        f'data-marked="{len(marked)}">'
        f'<h3>System {layout.index + 1}: bars {layout.first_bar}-{last}, {len(layout.staves)} staves'
        f'{", " + str(len(marked)) + " doubtful" if marked else ""}</h3>'
        f'<figure class="scan"><div class="frame"><img src="{_png_data_uri(scan)}" '
        f'alt="system {layout.index + 1} of the scan">{"".join(_scan_marks(mine, box, layout))}</div>'
        f'<figcaption>scan with detections</figcaption></figure>'
        f'<figure class="engraved"><div class="frame">{engraved}</div>'
        f'<figcaption>recognised music (Verovio)</figcaption></figure>'
        f'{"<ol class=doubts>" + items + "</ol>" if items else ""}</div>')


def _summary_html(doubts: PageDoubts) -> str:
    rows = []
    printed: dict[str, str] = {}  # part id -> the name printed beside it (margin_text.py), if read
    for system in doubts.systems:
        for pid, group in zip(system.parts, system.groups):
            if group and group[0].label:
                printed.setdefault(pid, group[0].label)
    for pid, (marked, bars) in doubts.doubtful_bars_by_part().items():
        kinds = Counter(d.kind for d in doubts.doubts if d.part == pid)
        reasons = ", ".join(f"{n} × {KINDS[k]}" for k, n in kinds.items())
        label = html.escape(f"{pid} {printed[pid]}" if pid in printed else pid)
        rows.append(f'<tr data-part="{pid}"><td>{label}</td><td>{bars}</td><td>{marked}</td>'
                    f'<td>{html.escape(reasons)}</td></tr>')
    whole = [d for d in doubts.doubts if d.bar is None]
    notes = "".join(f'<li class="{d.kind}">{html.escape((d.part or "") + ": " + d.text)}</li>' for d in whole)
    return ('<table class="summary"><tr><th>part</th><th>bars</th><th>doubtful bars</th><th>why</th></tr>'
            + "".join(rows) + "</table>" + (f'<ul class="page-doubts">{notes}</ul>' if notes else ""))


def page_section(name: str, gray: np.ndarray, page, score_thresh: float = 0.5,
                 number: int = 1, doubts: Optional[PageDoubts] = None) -> PageSection:
    """The report section of one page.

    Args:
        name: shown as the section's title (the page file name).
        gray: the page, ``[H, W] uint8``.
        page: the page's ``pipeline.PageResult``.
        score_thresh: the operating threshold the symbols were kept at (for low-score doubts).
        number: the page's number in the report (1-based; ids are ``page-N``).
    """
    started = time.perf_counter()
    doubts = doubts or find_doubts(page, score_thresh)
    page_id = f"page-{number}"
    toolkit = new_toolkit()
    systems = [_system_html(page_id, gray, page, doubts, layout, toolkit) for layout in doubts.systems]
    marked = len(doubts.marked_bars())
    by_part = doubts.doubtful_bars_by_part()
    staves = len(page.score.staves)
    body = (f'<section class="page" id="{page_id}" data-systems="{len(doubts.systems)}" '
            f'data-bars="{doubts.bar_count()}" data-marked="{marked}">'
            f'<h2>Page {number}: {html.escape(name)}</h2>'
            f'<p>{staves} staves in {len(doubts.systems)} systems, {doubts.bar_count()} bars, '
            f'{marked} with a doubt; time {_time_text(page.score)}.</p>'
            + _summary_html(doubts) + "".join(systems) +
            ("" if systems else '<p class="error">no staves found on this page</p>') + "</section>")
    return PageSection(name, body, len(doubts.systems), doubts.bar_count(), marked, by_part,
                       time.perf_counter() - started)


def _time_text(score) -> str:
    if not score.time:
        return "unknown"
    return f"{score.time[0]}/{score.time[1]}" + (" (inferred: none written)" if score.time_inferred else "")


STYLE = f"""
body {{ font: 14px/1.4 sans-serif; margin: 1em 2em; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ border-top: 2px solid #888; padding-top: .5em; }}
table.summary {{ border-collapse: collapse; margin: .5em 0; }}
table.summary td, table.summary th {{ border: 1px solid #bbb; padding: 2px 8px; text-align: left; }}
.system {{ margin: 1.5em 0; }}
.system h3 {{ font-size: 1em; margin: .3em 0; }}
figure {{ margin: .3em 0; }}
figcaption {{ font-size: .8em; color: #666; }}
.frame {{ position: relative; display: inline-block; max-width: 100%; line-height: 0; }}
.frame img {{ display: block; max-width: 100%; height: auto; }}
.scan .frame img {{ width: {CROP_WIDTH_PX}px; }}
.mark {{ position: absolute; border: 2px solid {DOUBT_COLOUR}; background: rgba(208, 2, 27, .12);
        box-sizing: border-box; }}
.mark.low-score {{ border-style: dashed; border-color: #ff00c8; background: rgba(255, 0, 200, .08); }}
ol.doubts {{ color: {DOUBT_COLOUR}; font-size: .9em; }}
.legend span {{ padding: 0 .5em; }}
.error {{ color: {DOUBT_COLOUR}; }}
"""

LEGEND = ('<p class="legend">Scan: <span style="color:#dc0000">noteheads</span>'
          '<span style="color:#9600c8">rests</span><span style="color:#009600">clefs, keys, times</span>'
          '<span style="color:#005aff">accidentals, '
          'barlines</span><span style="color:#ff8c00">stems</span><span style="color:#ff00c8">low-confidence '
          'detections left out</span>. Red frames: doubtful places; red staves in the engraving: doubtful '
          'bars.</p>')


def render_report(sections: Sequence[PageSection], title: str = "Recognition report") -> str:
    """The whole report: a summary of every page, then each page's section."""
    bars = sum(s.bars for s in sections)
    marked = sum(s.marked_bars for s in sections)
    rows = "".join(
        f'<tr><td><a href="#page-{k}">{k}</a></td><td>{html.escape(s.name)}</td><td>{s.systems}</td>'
        f'<td>{s.bars}</td><td>{s.marked_bars}</td><td>'
        + ", ".join(f"{pid} {m}/{n}" for pid, (m, n) in s.by_part.items()) + "</td></tr>"
        for k, s in enumerate(sections, start=1))
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>'
        f'<p class="totals" data-pages="{len(sections)}" data-bars="{bars}" data-marked="{marked}">'
        f'{len(sections)} page(s), {sum(s.systems for s in sections)} systems, {bars} bars, '
        f'{marked} doubtful.</p>{LEGEND}'
        '<table class="summary"><tr><th>page</th><th>file</th><th>systems</th><th>bars</th>'
        '<th>doubtful bars</th>'
        f'<th>doubtful / bars per part</th></tr>{rows}</table>'
        + "".join(s.html for s in sections) + "</body></html>\n")


def write_html_report(sections: Sequence[PageSection], path: str | Path,
                      title: str = "Recognition report") -> Path:
    """Write the report of these page sections to one self-contained HTML file."""
    path = Path(path)
    path.write_text(render_report(sections, title), encoding="utf-8")
    return path


#: The image file is in the structure's frame when this share of the structure's ink pixels is
#: dark in it (the DSv2 page: 0.99); a page the pipeline turned or resampled falls far below.
SAME_FRAME_INK_SHARE = 0.9


def page_picture(image_path: str | Path, structure) -> np.ndarray:
    """The page as the structure saw it, ``[H, W] uint8``: the image file when it lies in the frame
    of the structure's ink, else the ink itself (black on white) when the pipeline moved the page."""
    from detector.data.deepscores import load_page_image

    gray = load_page_image(Path(image_path))
    ink = getattr(structure, "ink", None)
    if ink is None or not ink.any():
        return gray
    if gray.shape == ink.shape and float(np.mean(gray[ink] < 160)) >= SAME_FRAME_INK_SHARE:
        return gray
    return np.where(ink, 0, 255).astype(np.uint8)


def report_page(image_path: str | Path, page, number: int = 1, score_thresh: float = 0.5,
                log: Callable[[str], None] = print) -> PageSection:
    """The section of one page already reconstructed (``pipeline.reconstruct_page``'s result)."""
    gray = page_picture(image_path, page.structure)
    section = page_section(Path(image_path).name, gray, page, score_thresh, number)
    log(f"[   report] {section.seconds:6.2f} s  {section.systems} systems, {section.marked_bars} of "
        f"{section.bars} bars doubtful")
    return section
