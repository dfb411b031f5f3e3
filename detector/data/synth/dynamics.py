"""Draw combined dynamics (``mf``, ``sfz``) as their separate letter glyphs.

DSv2 boxes dynamics letter by letter (dynamicM, dynamicF, ...), while Verovio draws a known
combination as one SMuFL ligature glyph, whose letters cannot be boxed exactly. The SVG is
rewritten before rasterising: each ligature becomes its letter glyphs, set side by side at
the font's advance widths, so the picture and the boxes both come from the letter glyphs.
"""
from __future__ import annotations

import functools
import re

from detector.data.synth.fonts import FALLBACK_FONT, data_dir, glyph_metrics

#: SMuFL dynamic letters (p m f r s z n) -> code points.
LETTER_CODES = {"p": "E520", "m": "E521", "f": "E522", "r": "E523", "s": "E524", "z": "E525", "n": "E526"}
#: SMuFL names of ligature dynamics -> the letters they are made of.
LIGATURES: dict[str, str] = {
    "dynamicPP": "pp", "dynamicPPP": "ppp", "dynamicPPPP": "pppp", "dynamicPPPPP": "ppppp", "dynamicPPPPPP": "pppppp",
    "dynamicFF": "ff", "dynamicFFF": "fff", "dynamicFFFF": "ffff", "dynamicFFFFF": "fffff", "dynamicFFFFFF": "ffffff",
    "dynamicMP": "mp", "dynamicMF": "mf", "dynamicPF": "pf", "dynamicFortePiano": "fp", "dynamicForzando": "fz",
    "dynamicSforzando1": "sf", "dynamicSforzandoPiano": "sfp", "dynamicSforzandoPianissimo": "sfpp",
    "dynamicSforzato": "sfz", "dynamicSforzatoPiano": "sfzp", "dynamicSforzatoFF": "sffz",
    "dynamicRinforzando1": "rf", "dynamicRinforzando2": "rfz", "dynamicNiente": "n",
}
_USE = re.compile(
    r'<use xlink:href="#([0-9A-Fa-f]{4})-([^"]+)" transform="translate\(([-\d.]+),\s*([-\d.]+)\) scale\(([-\d.]+),\s*([-\d.]+)\)"\s*/>'
)


@functools.lru_cache(maxsize=None)
def _advance(font: str, code: str) -> float:
    import xml.etree.ElementTree as ET

    for name in (font, FALLBACK_FONT):
        for g in ET.parse(data_dir() / f"{name}.xml").getroot().iter("g"):
            if g.get("c", "").upper() == code:
                return float(g.get("h-a-x", g.get("w", 0)))
    return 0.0


@functools.lru_cache(maxsize=None)
def _glyph_path(font: str, code: str) -> str:
    """The glyph's ``<path .../>`` as Verovio ships it (its own font, else the fallback)."""
    for name in (font, FALLBACK_FONT):
        path = data_dir() / name / f"{code}.xml"
        if path.is_file():
            text = path.read_text()
            start = text.find("<path")
            return text[start:text.rfind("</g>")]
    return ""


def split_combined_dynamics(svg: str, font: str) -> str:
    """Rewrite every ligature dynamic of ``svg`` as its letters (other glyphs untouched)."""
    needed: dict[str, str] = {}

    def replace(match: re.Match) -> str:
        code, suffix = match.group(1).upper(), match.group(2)
        metrics = glyph_metrics(font, code)
        letters = LIGATURES.get(metrics.name) if metrics else None
        if not letters:
            return match.group(0)
        x, y, sx, sy = (float(match.group(i)) for i in (3, 4, 5, 6))
        uses = []
        for letter in letters:
            letter_code = LETTER_CODES[letter]
            needed[f"{letter_code}-{suffix}"] = letter_code
            uses.append(f'<use xlink:href="#{letter_code}-{suffix}" transform="translate({x:.2f}, {y:.2f}) scale({sx}, {sy})" />')
            x += sx * _advance(font, letter_code)
        return "".join(uses)

    out = _USE.sub(replace, svg)
    missing = [ref for ref in needed if f'id="{ref}"' not in out]
    if missing:
        defs = "".join(f'<g id="{ref}">{_glyph_path(font, needed[ref])}</g>' for ref in missing)
        out = out.replace("<defs>", "<defs>" + defs, 1)
    return out
