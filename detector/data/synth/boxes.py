"""Verovio SVG -> DSv2 symbols with exact boxes, from the engraver's own geometry.

Every ink-bearing SVG primitive is mapped to a DSv2 class by its SMuFL glyph name and the
classes of the ``<g>`` groups around it (a sharp inside ``keyAccid`` is ``keySharp``, inside
``accid`` it is ``accidentalSharp``). Ligature dynamics are split beforehand (dynamics.py). Boxes are in SVG units of the page (before rasterising):
glyphs from the font's glyph boxes, lines from their end points and stroke width, beams
from their polygon, dots from their ellipse, fingering digits from the text font's outlines
(textfonts.py). No box is read back from the rendered ink.

Every other text (titles, lyrics, tempo and expression words, figured bass, chord symbols,
measure numbers: see text.py) has no DSv2 class: ``<text>`` elements are not walked, so no
letter or digit of it can become a symbol, whatever group (a lyric inside a ``note``) holds it.
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

from detector.data.classes import DSV2_ID_BY_NAME
from detector.data.synth.fonts import OCTAVE_CLEFS, glyph_metrics, octave_mark_box
from detector.data.synth.geometry import parse_points, path_box, polyline_box, union
from detector.data.synth.textfonts import char_boxes

SVG_NS = "{http://www.w3.org/2000/svg}"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
#: One em is four staff spaces in SMuFL; font units are 1000 per em.
FONT_UNITS_PER_STAFF_SPACE = 250.0
#: A glyph drawn smaller than this fraction of its normal size is a cue/grace ("Small") one.
SMALL_GLYPH_RATIO = 0.85

_NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"
_TRANSLATE = re.compile(rf"translate\(\s*({_NUMBER})[ ,]+({_NUMBER})\s*\)")
_ROTATE = re.compile(rf"rotate\(\s*({_NUMBER})[ ,]+({_NUMBER})[ ,]+({_NUMBER})\s*\)")
_SCALE = re.compile(rf"scale\(\s*({_NUMBER})(?:[ ,]+({_NUMBER}))?\s*\)")
_PATH_POINTS = re.compile(rf"[ML]\s*({_NUMBER})[ ,]+({_NUMBER})")

#: SMuFL glyph names whose DSv2 class has another name.
GLYPH_TO_CLASS: dict[str, str] = {
    "gClef": "clefG", "gClefChange": "clefG", "gClef8vb": "clefG", "gClef8va": "clefG",
    "gClef15mb": "clefG", "gClef15ma": "clefG", "fClef": "clefF", "fClefChange": "clefF",
    "fClef8vb": "clefF", "fClef8va": "clefF", "unpitchedPercussionClef1": "clefUnpitchedPercussion",
    "dynamicPiano": "dynamicP", "dynamicMezzo": "dynamicM", "dynamicForte": "dynamicF",
    "dynamicSforzando": "dynamicS", "dynamicZ": "dynamicZ", "dynamicRinforzando": "dynamicR",
    "ornamentShortTrill": "ornamentMordent", "repeatDots": "repeatDot",
    "articStaccatissimoWedgeAbove": "articStaccatissimoAbove",
    "articStaccatissimoWedgeBelow": "articStaccatissimoBelow",
}
NOTEHEAD_KINDS = {"noteheadBlack": "Black", "noteheadHalf": "Half", "noteheadWhole": "Whole", "noteheadDoubleWhole": "DoubleWhole", "noteheadDoubleWholeSquare": "DoubleWhole"}
#: Verovio groups drawn as one DSv2 symbol whose box is the union of all their ink.
UNION_GROUPS = {"octave": "ottavaBracket", "grpSym": "brace", "tupletBracket": "tupletBracket", "arpeg": "arpeggiato"}
#: Verovio groups of one Bezier outline each.
CURVE_CLASSES = {"tie": "tie", "slur": "slur"}
KEY_ACCIDENTALS = {"accidentalFlat": "keyFlat", "accidentalSharp": "keySharp", "accidentalNatural": "keyNatural"}
#: Fingering characters with a DSv2 class (a "6" to "9" has none and stays background).
FINGERING_DIGITS = frozenset("012345")
#: Verovio's CSS sets fingerings in bold (its ``g.fing {font-weight:bold}`` rule).
FINGERING_BOLD = True
SMALL_VARIANTS = {"flag8thUp", "flag8thDown", "accidentalFlat", "accidentalNatural", "accidentalSharp"}


@dataclass
class SvgSymbol:
    """One DSv2 symbol found in the SVG.

    ``box`` is ``[x0, y0, x1, y1]`` in SVG page units; ``element_id`` the MEI xml:id of the
    nearest identified element (the ``note`` for a notehead); ``staff_key`` is (system
    index, staff slot in the system) of the staff it is drawn in, or None.
    """

    class_name: str
    box: tuple[float, float, float, float]
    element_id: str = ""
    staff_key: Optional[tuple[int, int]] = None


@dataclass
class SvgPage:
    """All symbols of one engraved page, plus staff geometry and what was left out."""

    symbols: list[SvgSymbol]
    staff_lines: dict[tuple[int, int], list[float]]  # staff key -> line y's (top first)
    staff_ids: dict[str, tuple[int, int]]  # SVG/MEI staff xml:id -> staff key
    note_staff: dict[str, tuple[int, int]]  # note/rest xml:id -> staff key
    viewbox: tuple[float, float]  # (width, height) of the page in SVG units
    skipped: Counter = field(default_factory=Counter)  # glyph names with no DSv2 class


@dataclass
class _Context:
    classes: frozenset = frozenset()
    element_id: str = ""
    note_id: str = ""
    dx: float = 0.0
    dy: float = 0.0
    staff_key: Optional[tuple[int, int]] = None
    rotation: Optional[tuple[float, float, float]] = None  # (degrees, cx, cy) of a rotated group

    def place(self, box) -> tuple[float, float, float, float]:
        """A local box in page units: the group's rotation (exact for quarter turns), then
        the translations of the groups around it."""
        if self.rotation is not None:
            degrees, cx, cy = self.rotation
            cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
            xs, ys = [], []
            for x, y in ((box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3])):
                xs.append(cx + cos * (x - cx) - sin * (y - cy))
                ys.append(cy + sin * (x - cx) + cos * (y - cy))
            box = (min(xs), min(ys), max(xs), max(ys))
        return box[0] + self.dx, box[1] + self.dy, box[2] + self.dx, box[3] + self.dy


class _Walker:
    """Depth-first walk of the SVG tree, collecting symbols (one walker per page)."""

    def __init__(self, font: str, staff_space: float, text_family: Optional[str] = None):
        self.font = font
        self.text_family = text_family
        self.staff_space = staff_space
        self.symbols: list[SvgSymbol] = []
        self.staff_lines: dict[tuple[int, int], list[float]] = {}
        self.staff_extent: dict[tuple[int, int], list[float]] = {}
        self.staff_ids: dict[str, tuple[int, int]] = {}
        self.note_staff: dict[str, tuple[int, int]] = {}
        self.skipped: Counter = Counter()
        self.system = -1
        self.slot = -1
        self.unions: dict[tuple[str, str], list] = {}  # (group id, class) -> [box, staff key]

    def add_to_union(self, name: str, box, ctx: _Context) -> None:
        key = (ctx.element_id, name)
        shifted = ctx.place(box)
        entry = self.unions.setdefault(key, [None, ctx.staff_key])
        entry[0] = union(entry[0], shifted)

    def union_group(self, ctx: _Context) -> Optional[str]:
        """The DSv2 class of the union group ``ctx`` is inside (None if not in one)."""
        for cls, name in UNION_GROUPS.items():
            if cls in ctx.classes:
                return name
        return None

    def add(self, name: str, box, ctx: _Context, element_id: str | None = None) -> None:
        self.symbols.append(SvgSymbol(name, ctx.place(box), element_id if element_id is not None else ctx.element_id,
                                      ctx.staff_key))

    def walk(self, node: ET.Element, ctx: _Context) -> None:
        tag = node.tag.replace(SVG_NS, "")
        if node.get("visibility") == "hidden" or "placeholder" in node.get("class", "").split():
            return  # hidden notes and layout placeholders draw no ink
        if tag == "g":
            ctx = self._enter_group(node, ctx)
        elif tag == "use":
            self._glyph(node, ctx)
        elif tag == "path":
            self._path(node, ctx)
        elif tag == "polyline":
            self._polyline(node, ctx)
        elif tag == "polygon" and "beam" in ctx.classes:
            xs, ys = _polygon_points(node.get("points", ""))
            if xs:
                self.add("beam", (min(xs), min(ys), max(xs), max(ys)), ctx)
        elif tag == "rect" and "stem" in ctx.classes and node.get("fill") != "transparent":
            x, y = float(node.get("x", 0)), float(node.get("y", 0))
            self.add("stem", (x, y, x + float(node.get("width", 0)), y + float(node.get("height", 0))), ctx)
        elif tag == "ellipse" and "dots" in ctx.classes:
            cx, cy = float(node.get("cx")), float(node.get("cy"))
            rx, ry = float(node.get("rx")), float(node.get("ry"))
            self.add("augmentationDot", (cx - rx, cy - ry, cx + rx, cy + ry), ctx)
        elif tag == "text" and "fing" in ctx.classes and self.text_family:
            self._fingering(node, ctx)
        if tag in ("text", "title", "desc", "defs") or "bounding-box" in ctx.classes:
            return
        for child in node:
            self.walk(child, ctx)

    def _enter_group(self, node: ET.Element, ctx: _Context) -> _Context:
        classes = node.get("class", "").split()
        element_id = node.get("id") or ctx.element_id
        dx, dy = ctx.dx, ctx.dy
        transform = node.get("transform")
        rotation = ctx.rotation
        if transform:
            match = _TRANSLATE.search(transform)
            if match:
                dx, dy = dx + float(match.group(1)), dy + float(match.group(2))
            turn = _ROTATE.search(transform)
            if turn:  # Verovio rotates only leaf groups (arpeggios) that are not translated
                rotation = (float(turn.group(1)), float(turn.group(2)), float(turn.group(3)))
        staff_key = ctx.staff_key
        if "system" in classes:
            self.system += 1
        if "measure" in classes:
            self.slot = -1
        if "staff" in classes and "bounding-box" not in classes:
            self.slot += 1
            staff_key = (self.system, self.slot)
            self.staff_ids[node.get("id", "")] = staff_key
        note_id = ctx.note_id
        if ("note" in classes or "rest" in classes or "mRest" in classes) and node.get("id"):
            note_id = node.get("id")
            if staff_key is not None:
                self.note_staff[note_id] = staff_key
        return _Context(ctx.classes | frozenset(classes), element_id, note_id, dx, dy, staff_key, rotation)

    def _polyline(self, node: ET.Element, ctx: _Context) -> None:
        points = parse_points(node.get("points", ""))
        caps = node.get("stroke-linecap", "butt") in ("square", "round")
        box = polyline_box(points, float(node.get("stroke-width", 1)), caps)
        if box is None:
            return
        group = self.union_group(ctx)
        if group:
            self.add_to_union(group, box, ctx)
        elif "hairpin" in ctx.classes and len(points) == 3:
            opening_right = points[1][0] < min(points[0][0], points[2][0])
            self.add("dynamicCrescendoHairpin" if opening_right else "dynamicDiminuendoHairpin", box, ctx)

    def _curve(self, node: ET.Element, ctx: _Context) -> None:
        """A filled Bezier outline (tie, slur, brace half) stroked with round joins."""
        box = path_box(node.get("d", ""))
        if box is None:
            return
        half = float(node.get("stroke-width", 0)) / 2.0
        box = (box[0] - half, box[1] - half, box[2] + half, box[3] + half)
        group = self.union_group(ctx)
        if group:
            self.add_to_union(group, box, ctx)
            return
        for cls, name in CURVE_CLASSES.items():
            if cls in ctx.classes:
                self.add(name, box, ctx)
                return

    def _path(self, node: ET.Element, ctx: _Context) -> None:
        if "bounding-box" in ctx.classes:
            return
        if "C" in node.get("d", ""):
            self._curve(node, ctx)
            return
        points = [(float(x), float(y)) for x, y in _PATH_POINTS.findall(node.get("d", ""))]
        if len(points) != 2:
            return
        (xa, ya), (xb, yb) = points
        half = float(node.get("stroke-width", 1)) / 2.0
        horizontal = abs(ya - yb) < 1e-6
        box = (min(xa, xb), min(ya, yb) - half, max(xa, xb), max(ya, yb) + half) if horizontal else (
            min(xa, xb) - half, min(ya, yb), max(xa, xb) + half, max(ya, yb))
        inner = ctx.classes - {"staff"}
        group = self.union_group(ctx)
        if group == "ottavaBracket":
            self.add_to_union(group, box, ctx)
        elif "stem" in ctx.classes:
            self.add("stem", box, ctx)
        elif "ledgerLines" in ctx.classes:
            self.add("ledgerLine", box, ctx, element_id="")
        elif "staff" in ctx.classes and ctx.staff_key is not None and horizontal and not (
            inner & {"layer", "note", "chord", "clef", "keySig", "meterSig", "barLine", "rest", "mRest", "beam"}
        ):
            key = ctx.staff_key
            self.staff_lines.setdefault(key, [])
            line_y = ya + ctx.dy
            if all(abs(line_y - y) > 1e-3 for y in self.staff_lines[key]):
                self.staff_lines[key].append(line_y)
            b = [box[0] + ctx.dx, box[1] + ctx.dy, box[2] + ctx.dx, box[3] + ctx.dy]
            old = self.staff_extent.get(key)
            self.staff_extent[key] = b if old is None else [min(old[0], b[0]), min(old[1], b[1]), max(old[2], b[2]), max(old[3], b[3])]

    def _glyph(self, node: ET.Element, ctx: _Context) -> None:
        href = node.get(XLINK_HREF) or node.get("href") or ""
        code = href.lstrip("#").split("-")[0]
        metrics = glyph_metrics(self.font, code)
        transform = node.get("transform", "")
        translate, scale = _TRANSLATE.search(transform), _SCALE.search(transform)
        if metrics is None or translate is None:
            self.skipped[f"glyph {code}"] += 1
            return
        tx, ty = float(translate.group(1)), float(translate.group(2))
        sx = float(scale.group(1)) if scale else 1.0
        sy = float(scale.group(2) or sx) if scale else 1.0
        box = (tx + sx * metrics.x, ty - sy * (metrics.y + metrics.h), tx + sx * (metrics.x + metrics.w), ty - sy * metrics.y)
        small = sx < SMALL_GLYPH_RATIO * self.staff_space / FONT_UNITS_PER_STAFF_SPACE
        name = metrics.name
        if self.union_group(ctx) in ("ottavaBracket", "arpeggiato"):
            self.add_to_union(self.union_group(ctx), box, ctx)
            return
        if name in OCTAVE_CLEFS and "clef" in ctx.classes:
            self._octave_clef(code, name, ctx, tx, ty, sx, sy, small)
            return
        class_name = self._class_of(name, ctx, ty, small)
        if class_name is None:
            self.skipped[name or code] += 1
            return
        element_id = ctx.note_id if "notehead" in ctx.classes else None
        self.add(class_name, box, ctx, element_id)

    def _fingering(self, node: ET.Element, ctx: _Context) -> None:
        """Boxes of a fingering's digits: one ``<text>`` line, its size on the innermost span."""
        spans = [el for el in node.iter() if el.text and el.text.strip()]
        if not spans:
            return
        sizes = [float(el.get("font-size")[:-2]) for el in spans if el.get("font-size", "").endswith("px")]
        size = sizes[-1] if sizes else 0.0
        italic = any(el.get("font-style") == "italic" for el in node.iter())
        text = "".join(el.text for el in spans)
        x, y = float(node.get("x", 0)), float(node.get("y", 0))
        for char, box in char_boxes(text, self.text_family, FINGERING_BOLD, italic, size, x, y,
                                    node.get("text-anchor", "start")):
            if char in FINGERING_DIGITS:
                self.add(f"fingering{char}", box, ctx)
            elif not char.isspace():
                self.skipped[f"fingering text {char}"] += 1

    def _octave_clef(self, code: str, name: str, ctx: _Context, tx, ty, sx, sy, small: bool) -> None:
        """An octave clef glyph is two DSv2 symbols: the plain clef and its octave mark."""
        base_code, mark_class = OCTAVE_CLEFS[name]
        base = glyph_metrics(self.font, base_code)
        mark = octave_mark_box(self.font, code)
        if base is None or mark is None:
            self.skipped[name] += 1
            return
        base_box = (tx + sx * base.x, ty - sy * (base.y + base.h), tx + sx * (base.x + base.w), ty - sy * base.y)
        base_class = self._class_of(base.name, ctx, ty, small)
        if base_class is not None:
            self.add(base_class, base_box, ctx)
        mx0, my0, mx1, my1 = mark
        self.add(mark_class, (tx + sx * mx0, ty - sy * my1, tx + sx * mx1, ty - sy * my0), ctx)

    def _class_of(self, name: str, ctx: _Context, origin_y: float, small: bool) -> Optional[str]:
        classes = ctx.classes
        if "notehead" in classes and name in NOTEHEAD_KINDS:
            on_line = self._staff_position(ctx, origin_y) % 2 == 0
            return f"notehead{NOTEHEAD_KINDS[name]}{'OnLine' if on_line else 'InSpace'}{'Small' if small else ''}"
        if "keyAccid" in classes:
            return KEY_ACCIDENTALS.get(name)
        if name == "cClef" or name == "cClefChange":
            position = self._staff_position(ctx, origin_y)
            return {4: "clefCAlto", 6: "clefCTenor"}.get(position)
        name = GLYPH_TO_CLASS.get(name, name)
        if small and name in SMALL_VARIANTS:
            name += "Small"
        return name if name in DSV2_ID_BY_NAME else None

    def _staff_position(self, ctx: _Context, y: float) -> int:
        """Staff position in half spaces, 0 = bottom line (as reconstruct's ``Staff.position``)."""
        lines = self.staff_lines.get(ctx.staff_key) if ctx.staff_key else None
        if not lines:
            return 0
        bottom = max(lines) - ctx.dy
        return int(round((bottom - y) / (self.staff_space / 2.0)))


def _polygon_points(text: str) -> tuple[list[float], list[float]]:
    values = [float(v) for v in re.findall(_NUMBER, text)]
    return values[0::2], values[1::2]


def parse_svg(svg: str, font: str, staff_space: float, text_family: Optional[str] = None) -> SvgPage:
    """Collect every DSv2 symbol of a Verovio SVG page.

    Args:
        svg: the page as Verovio's ``renderToSVG`` returns it.
        font: the Verovio font it was engraved with (for glyph boxes).
        staff_space: the staff space in SVG units of the page (180 at Verovio's unit 9).
        text_family: the text font family the page is rasterised with (textfonts.py); without
            it fingerings are not boxed.
    """
    root = ET.fromstring(svg)
    inner = next(el for el in root.iter(f"{SVG_NS}svg") if "definition-scale" in el.get("class", ""))
    _, _, width, height = (float(v) for v in inner.get("viewBox").split())
    walker = _Walker(font, staff_space, text_family)
    walker.walk(inner, _Context())
    for (element_id, name), (box, staff_key) in walker.unions.items():
        walker.symbols.append(SvgSymbol(name, tuple(box), element_id, staff_key))
    for key, extent in walker.staff_extent.items():
        walker.symbols.append(SvgSymbol("staff", tuple(extent), "", key))
        walker.staff_lines[key].sort()
    return SvgPage(walker.symbols, walker.staff_lines, walker.staff_ids, walker.note_staff, (width, height), walker.skipped)
