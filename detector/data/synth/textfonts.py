"""Text fonts for the synthetic pages: real TTF files handed to resvg, and their metrics.

Verovio writes every text (titles, lyrics, tempo and expression words, fingerings, figured
bass, chord symbols, measure numbers) in ``font-family="Times, serif"`` and leaves the font
to the renderer. resvg finds no font on a bare machine and would draw no text at all, so
the page is given fonts the project installs itself: the TTFs matplotlib ships (STIX
General, a Times-like serif; DejaVu Serif; DejaVu Sans). Each page draws one family, and
resvg is told to skip the machine's own fonts, so the same seed renders the same pixels on
every machine.

Verovio also writes the music symbols inside text (the note of "♩ = 100", the sharp of a
figured-bass "#6") as SMuFL private-use characters in the music font, which exists only as
CSS web font in Verovio's data, not as a TTF resvg could load. Those characters are mapped
to their Unicode music symbols (U+2669-266F), which the text fonts have.

Fingering digits are a DSv2 class (``fingering0``-``fingering5``), so their boxes are
computed from the same font's outlines (fontTools), as the music glyphs' boxes are from the
SMuFL metrics: nothing is read back from the rendered ink.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Text family name (as in the font's name table) -> (regular, bold, italic, bold italic) files.
TEXT_FAMILIES: dict[str, tuple[str, str, str, str]] = {
    "STIXGeneral": ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf",
                    "STIXGeneralBolIta.ttf"),
    "DejaVu Serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf",
                     "DejaVuSerif-BoldItalic.ttf"),
    "DejaVu Sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf",
                    "DejaVuSans-BoldOblique.ttf"),
}
#: Drawing weights: most printed music sets its text in a Times-like serif.
FAMILY_WEIGHTS: dict[str, float] = {"STIXGeneral": 0.55, "DejaVu Serif": 0.3, "DejaVu Sans": 0.15}
#: Family that draws a character the page's family lacks (resvg falls back to any loaded font).
FALLBACK_FILE = "DejaVuSans.ttf"
#: SMuFL code points Verovio writes inside text -> Unicode music symbols.
SMUFL_TO_UNICODE: dict[str, str] = {
    "\ue1d2": "\U0001D15D", "\ue1d3": "\U0001D15E", "\ue1d5": "\u2669", "\ue1d7": "\u266a",
    "\ue1d9": "\u266b", "\ue260": "\u266d", "\ue261": "\u266e", "\ue262": "\u266f",
    "\ue263": "\U0001D12A", "\ue264": "\U0001D12B", "\ue1e7": ".",
    "\uea64": "\u266d", "\uea65": "\u266e", "\uea66": "\u266f",  # figbass accidentals (chord symbols)
    "\uea63": "\U0001D12A", "\uea67": "\U0001D12B",
}
#: Verovio's text family, written on the root ``<svg>``.
VEROVIO_TEXT_FAMILY = re.compile(r'font-family="Times, serif"')
#: A text span Verovio sets in the music font (SMuFL characters) at the music font's size.
_MUSIC_SPAN = re.compile(r'<tspan font-family="[^"]*" font-size="(\d+(?:\.\d+)?)px">([^<]*)</tspan>')
#: A SMuFL glyph is drawn at 1.78 x the text size (720 / 405 px in Verovio's SVG); a Unicode
#: music symbol in a text font has text proportions.
SMUFL_TEXT_RATIO = 405.0 / 720.0


def font_dir() -> Path:
    """matplotlib's bundled TTF folder."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def font_files() -> list[str]:
    """Every text font file a page may use (all families, all styles), as paths."""
    names = sorted({name for files in TEXT_FAMILIES.values() for name in files} | {FALLBACK_FILE})
    return [str(font_dir() / name) for name in names]


def draw_family(rng: np.random.Generator) -> str:
    """One text family for a page, by weight."""
    names = list(FAMILY_WEIGHTS)
    weights = np.array([FAMILY_WEIGHTS[n] for n in names])
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


def apply_text_family(svg: str, family: str) -> str:
    """Set the page's text in ``family`` and turn SMuFL characters inside text into Unicode."""
    svg = VEROVIO_TEXT_FAMILY.sub(f'font-family="{family}"', svg)

    def music_span(match: re.Match) -> str:
        size, chars = float(match.group(1)), match.group(2)
        if not any(c in SMUFL_TO_UNICODE for c in chars):
            return match.group(0)
        text = "".join(SMUFL_TO_UNICODE.get(c, "") for c in chars)
        return f'<tspan font-size="{size * SMUFL_TEXT_RATIO:.0f}px">{text}</tspan>'

    return _MUSIC_SPAN.sub(music_span, svg)


@dataclass(frozen=True)
class TextGlyph:
    """One character's outline box and advance, in font units (y up)."""

    x0: float
    y0: float
    x1: float
    y1: float
    advance: float


@functools.lru_cache(maxsize=None)
def _font(family: str, bold: bool, italic: bool):
    from fontTools.ttLib import TTFont

    files = TEXT_FAMILIES[family]
    return TTFont(str(font_dir() / files[int(bold) + 2 * int(italic)]))


@functools.lru_cache(maxsize=None)
def text_glyph(family: str, bold: bool, italic: bool, char: str) -> TextGlyph | None:
    """Outline box and advance of ``char`` in one style of ``family`` (None if it has none)."""
    font = _font(family, bold, italic)
    name = font.getBestCmap().get(ord(char))
    if name is None:
        return None
    advance = float(font["hmtx"][name][0])
    glyph = font["glyf"][name]
    if glyph.numberOfContours == 0:
        return TextGlyph(0.0, 0.0, 0.0, 0.0, advance)
    glyph.recalcBounds(font["glyf"])
    return TextGlyph(float(glyph.xMin), float(glyph.yMin), float(glyph.xMax), float(glyph.yMax), advance)


def units_per_em(family: str) -> float:
    return float(_font(family, False, False)["head"].unitsPerEm)


def char_boxes(text: str, family: str, bold: bool, italic: bool, size: float, x: float, y: float,
               anchor: str = "start") -> list[tuple[str, tuple[float, float, float, float]]]:
    """Ink boxes ``[x0, y0, x1, y1]`` (SVG units, y down) of each character of a one-line text
    set at baseline (``x``, ``y``) in ``size`` units per em, as resvg lays it out (advances
    only; digits have no kerning)."""
    scale = size / units_per_em(family)
    glyphs = [text_glyph(family, bold, italic, c) for c in text]
    width = sum(g.advance for g in glyphs if g is not None) * scale
    pen = x - {"middle": width / 2.0, "end": width}.get(anchor, 0.0)
    out = []
    for char, glyph in zip(text, glyphs):
        if glyph is None:
            continue
        if glyph.x1 > glyph.x0:
            box = (pen + glyph.x0 * scale, y - glyph.y1 * scale, pen + glyph.x1 * scale, y - glyph.y0 * scale)
            out.append((char, box))
        pen += glyph.advance * scale
    return out
