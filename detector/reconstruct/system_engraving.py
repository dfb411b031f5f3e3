"""One system of the recognised music, engraved again by Verovio, with the place of each bar.

The report (``report_html.py``) shows each system of the scan above the same system as the
recognition read it. ``system_musicxml`` writes just that system's bars (the score's parts,
restricted to the system's staves, numbered as on the page) with ``musicxml.py``;
``engrave_system`` renders it on one line and finds, in the SVG, the box of every bar on every
staff so that the doubtful ones can be marked.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Iterable, Optional

from detector.reconstruct.doubts import SystemLayout
from detector.reconstruct.music import AttributeChange, Part, Score
from detector.reconstruct.musicxml import DOCTYPE, score_to_musicxml

SVG_NS = "{http://www.w3.org/2000/svg}"
STAFF_LINE = re.compile(r"M\s*(-?[\d.]+)\s+(-?[\d.]+)\s+L\s*(-?[\d.]+)\s+(-?[\d.]+)")  # Verovio's staff line

#: Verovio's scale (percent): 55 draws a staff space about 12 px high, legible beside a scan
#: shown at about 0.5 of its size.
ENGRAVING_SCALE = 55

#: Colour of the doubtful bars in the engraving (the report's marks use the same).
DOUBT_COLOUR = "#d0021b"


@dataclass
class Engraving:
    """A system's SVG and, for each bar, the box of each of its staves in fractions of the picture.

    ``bar_boxes[j][k]`` is ``(x0, y0, x1, y1)`` in [0, 1] of bar ``j`` on the system's ``k``-th
    staff (top to bottom), or None when Verovio drew fewer bars or staves.
    """

    svg: str
    width_px: float
    height_px: float
    bar_boxes: list[list[Optional[tuple[float, float, float, float]]]] = field(default_factory=list)


def _time_before(score: Score, layouts: list[SystemLayout], system: int) -> Optional[tuple[int, int]]:
    """The time signature in force at the start of a system (the last one met above it)."""
    time = score.time
    for layout in layouts[:system]:
        for staff in layout.staves:
            for measure in staff.measures:
                for item in measure.items:
                    if isinstance(item, AttributeChange) and item.time:
                        time = item.time
    return time


def system_musicxml(score: Score, layouts: list[SystemLayout], system: int) -> str:
    """MusicXML 4.0 of one system: its staff groups as parts, bars numbered as on the page."""
    layout = layouts[system]
    parts = [Part(id=pid, staff_count=len(group), systems=[group])
             for pid, group in zip(layout.parts, layout.groups)]
    time = _time_before(score, layouts, system)
    sub = Score(parts=parts, staves=layout.staves, time=time,
                time_inferred=score.time_inferred and time == score.time)
    root = score_to_musicxml(sub, title="").getroot()
    for part_el in root.iter("part"):
        for k, measure_el in enumerate(part_el.iter("measure")):
            measure_el.set("number", str(layout.first_bar + k))
    body = ET.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{DOCTYPE}\n{body}\n'


def new_toolkit():
    """A Verovio toolkit set up to engrave one system on one line."""
    import verovio

    # one system out of its score leaves ties and slurs open at its ends: Verovio warns of each
    # on stderr (process-wide setting; errors still show)
    verovio.enableLog(verovio.LOG_ERROR)
    toolkit = verovio.toolkit()
    toolkit.setOptions({
        "breaks": "none",  # the system on one line, as on the page
        "adjustPageHeight": True,
        "adjustPageWidth": True,
        "scale": ENGRAVING_SCALE,
        "header": "none",
        "footer": "none",
        "svgAdditionalAttribute": ["measure@n"],
        "mnumInterval": 1,
    })
    return toolkit


def engrave_system(musicxml: str, doubtful: Iterable[tuple[int, int]] = (), toolkit=None) -> Engraving:
    """Render a system's MusicXML to SVG with Verovio and locate each bar on each staff.

    Args:
        musicxml: from ``system_musicxml``.
        doubtful: ``(bar, staff)`` pairs (bar index within the system, staff index top to
            bottom) drawn in ``DOUBT_COLOUR``.
    """
    toolkit = toolkit or new_toolkit()
    if not toolkit.loadData(musicxml) or toolkit.getPageCount() < 1:
        return Engraving("", 0.0, 0.0)
    svg = toolkit.renderToSVG(1)
    return _locate_bars(svg, set(doubtful))


def _locate_bars(svg: str, doubtful: set[tuple[int, int]]) -> Engraving:
    """Bar boxes from the staff lines Verovio draws in each measure; doubtful measures coloured."""
    ET.register_namespace("", SVG_NS[1:-1])
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    root = ET.fromstring(svg)
    width = float(root.get("width", "0").removesuffix("px"))
    height = float(root.get("height", "0").removesuffix("px"))
    inner = root.find(f"{SVG_NS}svg")
    view = [float(v) for v in (inner.get("viewBox") if inner is not None else "0 0 1 1").split()]
    margin = root.find(f".//{SVG_NS}g[@class='page-margin']")
    dx, dy = _translate(margin.get("transform", "") if margin is not None else "")
    bar_boxes = []
    measures = [g for g in root.iter(f"{SVG_NS}g") if "measure" in (g.get("class") or "").split()]
    for j, measure in enumerate(measures):
        row = []
        for k, staff in enumerate(g for g in measure if "staff" in (g.get("class") or "").split()):
            ys, xs = [], []
            for path in staff.findall(f"{SVG_NS}path"):
                match = STAFF_LINE.match(path.get("d", ""))
                if match:
                    x0, y0, x1, _ = (float(v) for v in match.groups())
                    xs += [x0, x1]
                    ys.append(y0)
            if not xs:
                row.append(None)
                continue
            spacing = (max(ys) - min(ys)) / 4.0 if len(ys) > 1 else 0.0
            row.append(((min(xs) + dx - view[0]) / view[2], (min(ys) - spacing + dy - view[1]) / view[3],
                        (max(xs) + dx - view[0]) / view[2], (max(ys) + spacing + dy - view[1]) / view[3]))
            if (j, k) in doubtful:
                staff.set("class", f"{staff.get('class')} doubt")
        bar_boxes.append(row)
    style = ET.Element(f"{SVG_NS}style")
    style.text = f"g.staff.doubt {{ color: {DOUBT_COLOUR}; fill: {DOUBT_COLOUR}; }}"
    root.insert(0, style)
    return Engraving(ET.tostring(root, encoding="unicode"), width, height, bar_boxes)


def _translate(transform: str) -> tuple[float, float]:
    match = re.search(r"translate\(\s*(-?[\d.]+)[ ,]+(-?[\d.]+)", transform)
    return (float(match.group(1)), float(match.group(2))) if match else (0.0, 0.0)
