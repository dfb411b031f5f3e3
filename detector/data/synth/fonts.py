"""SMuFL glyph metrics of Verovio's bundled fonts: exact glyph boxes without rendering.

Verovio ships, per font, an XML table of every glyph's bounding box in font units (1000 per
em, y up) and its SMuFL name. A glyph drawn as ``<use href="#E0A4-..." transform=
"translate(X, Y) scale(s, s)">`` covers exactly ``X + s*[x, x+w]`` by ``Y - s*[y+h, y]``, so
boxes come from the engraver's own geometry rather than from the rendered ink.
"""
from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import verovio

#: Fonts bundled with Verovio 6 (each page draws one of them from the seed).
VEROVIO_FONTS: tuple[str, ...] = ("Leipzig", "Bravura", "Gootville", "Leland", "Petaluma")

#: Verovio draws a glyph missing from the chosen font with its default font's glyph.
FALLBACK_FONT = "Leipzig"


@dataclass(frozen=True)
class GlyphMetrics:
    """One glyph's SMuFL name and bounding box in font units (y up)."""

    name: str
    x: float
    y: float
    w: float
    h: float


def data_dir() -> Path:
    return Path(verovio.toolkit(False).getResourcePath())


@functools.lru_cache(maxsize=None)
def font_glyphs(font: str) -> dict[str, GlyphMetrics]:
    """Glyph code point (upper-case hex, e.g. ``E0A4``) -> metrics, for one bundled font."""
    path = data_dir() / f"{font}.xml"
    if not path.is_file():
        raise ValueError(f"unknown Verovio font {font!r}; bundled: {', '.join(VEROVIO_FONTS)}")
    glyphs = {}
    for g in ET.parse(path).getroot().iter("g"):
        glyphs[g.get("c").upper()] = GlyphMetrics(
            g.get("n", ""), float(g.get("x")), float(g.get("y")), float(g.get("w")), float(g.get("h"))
        )
    return glyphs


def glyph_metrics(font: str, code: str) -> GlyphMetrics | None:
    """Metrics of glyph ``code`` as Verovio draws it in ``font`` (with its fallback font)."""
    code = code.upper()
    found = font_glyphs(font).get(code)
    if found is None and font != FALLBACK_FONT:
        found = font_glyphs(FALLBACK_FONT).get(code)
    return found


#: Octave clefs (one SMuFL glyph) -> (the plain clef glyph, the DSv2 class of the octave mark).
OCTAVE_CLEFS: dict[str, tuple[str, str]] = {
    "gClef8vb": ("E050", "clef8"), "gClef8va": ("E050", "clef8"), "gClef15mb": ("E050", "clef15"),
    "gClef15ma": ("E050", "clef15"), "fClef8vb": ("E062", "clef8"), "fClef8va": ("E062", "clef8"),
    "fClef15mb": ("E062", "clef15"), "fClef15ma": ("E062", "clef15"), "cClef8vb": ("E05C", "clef8"),
}
#: Font units per pixel when a glyph is rasterised alone to measure a part of it.
_MEASURE_UNITS_PER_PX = 2.0


def _glyph_path_xml(font: str, code: str) -> str:
    for name in (font, FALLBACK_FONT):
        path = data_dir() / name / f"{code}.xml"
        if path.is_file():
            text = path.read_text()
            return text[text.find("<path"):text.rfind("</g>")]
    return ""


def _glyph_ink(font: str, code: str, frame: GlyphMetrics):
    """The glyph rasterised alone over ``frame`` (font units): ink mask [H, W] bool, row 0 at the top."""
    import io

    import numpy as np
    import resvg_py
    from PIL import Image

    margin = 20.0
    x0, y_top = frame.x - margin, -(frame.y + frame.h) - margin
    w, h = frame.w + 2 * margin, frame.h + 2 * margin
    width = int(round(w / _MEASURE_UNITS_PER_PX))
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{x0} {y_top} {w} {h}" width="{width}" '
           f'height="{int(round(h / _MEASURE_UNITS_PER_PX))}">{_glyph_path_xml(font, code)}</svg>')
    png = bytes(resvg_py.svg_to_bytes(svg_string=svg, width=width))
    return np.asarray(Image.open(io.BytesIO(png)).getchannel("A")) >= 64, (x0, y_top)


@functools.lru_cache(maxsize=None)
def octave_mark_box(font: str, code: str) -> tuple[float, float, float, float] | None:
    """Box of the octave digit(s) of an octave clef glyph, in font units (x0, y0, x1, y1 with y
    UP), measured from the glyph's own outline: the ink of the glyph that the plain clef
    does not have, grown to the whole connected strokes it belongs to."""
    import numpy as np
    from scipy import ndimage

    combined = glyph_metrics(font, code)
    if combined is None or combined.name not in OCTAVE_CLEFS:
        return None
    base_code = OCTAVE_CLEFS[combined.name][0]
    ink, (x0, y_top) = _glyph_ink(font, code, combined)
    base_ink, _ = _glyph_ink(font, base_code, combined)
    extra = ink & ~ndimage.binary_dilation(base_ink, iterations=2)
    if not extra.any():
        return None
    labels, _ = ndimage.label(ink)
    base_labels = set(np.unique(labels[base_ink & ink])) - {0}
    mark_labels = set(np.unique(labels[extra])) - {0}
    separate = mark_labels - base_labels
    mask = np.isin(labels, list(separate)) if separate else extra
    ys, xs = np.nonzero(mask)
    unit = _MEASURE_UNITS_PER_PX
    left, right = x0 + xs.min() * unit, x0 + (xs.max() + 1) * unit
    top, bottom = y_top + ys.min() * unit, y_top + (ys.max() + 1) * unit  # y down (SVG)
    return float(left), float(-bottom), float(right), float(-top)
