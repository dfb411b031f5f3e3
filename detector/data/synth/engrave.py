"""Engrave a piece with Verovio in a page layout drawn from the seed.

The page is laid out in Verovio's units at scale 100 (one staff space = 18 "px" = 180 SVG
units) on a page whose size is chosen so that, rasterised at ``width_px``, the staff space is
the drawn ``staff_space_px``: the page size in Verovio px is ``width_px * 18 / staff_space_px``.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass

import numpy as np
import verovio

from detector.data.synth.corpus import Piece
from detector.data.synth.fonts import VEROVIO_FONTS

#: Verovio's staff space at scale 100 and its default unit (9), in Verovio px.
VEROVIO_STAFF_SPACE = 18.0
#: SVG units per Verovio px in the inner ``definition-scale`` svg.
SVG_UNITS_PER_PX = 10.0
#: DSv2 pages are A4-like: height / width.
PAGE_ASPECT = 1.414


@dataclass(frozen=True)
class PageLayout:
    """How one page is engraved and rasterised (all drawn from the page's seed)."""

    font: str
    staff_space_px: float  # staff space of the raster, px
    width_px: int  # raster width; height = round(width_px * PAGE_ASPECT)
    margins: tuple[int, int, int, int]  # left, right, top, bottom, Verovio px
    spacing_staff: int  # Verovio spacingStaff (staff spaces between staves)
    spacing_system: int  # Verovio spacingSystem
    id_seed: int  # Verovio xmlIdSeed: same seed, same xml:ids

    @property
    def height_px(self) -> int:
        return int(round(self.width_px * PAGE_ASPECT))

    @property
    def zoom(self) -> float:
        """Raster px per Verovio px."""
        return self.staff_space_px / VEROVIO_STAFF_SPACE


def draw_layout(rng: np.random.Generator) -> PageLayout:
    """A DSv2-like layout: pages 2500-3000 px wide, staff space 18-28 px, any bundled font."""
    return PageLayout(
        font=VEROVIO_FONTS[int(rng.integers(len(VEROVIO_FONTS)))],
        staff_space_px=float(np.round(rng.uniform(18.0, 28.0), 2)),
        width_px=int(rng.integers(2500, 3001)),
        margins=tuple(int(v) for v in rng.integers(40, 160, size=4)),
        spacing_staff=int(rng.integers(6, 16)),
        spacing_system=int(rng.integers(6, 20)),
        id_seed=int(rng.integers(1, 2**31 - 1)),
    )


class EngraveError(RuntimeError):
    """Verovio could not load or lay out a piece (the generator draws another one)."""


def engrave(toolkit: verovio.toolkit, piece: Piece, layout: PageLayout) -> int:
    """Load ``piece`` into ``toolkit`` laid out per ``layout``; return its page count."""
    zoom = layout.zoom
    toolkit.setOptions({
        "pageWidth": int(round(layout.width_px / zoom)),
        "pageHeight": int(round(layout.height_px / zoom)),
        "scale": 100,
        "adjustPageHeight": False,
        "pageMarginLeft": layout.margins[0],
        "pageMarginRight": layout.margins[1],
        "pageMarginTop": layout.margins[2],
        "pageMarginBottom": layout.margins[3],
        "spacingStaff": layout.spacing_staff,
        "spacingSystem": layout.spacing_system,
        "font": layout.font,
        "header": "none",
        "footer": "none",
        "breaks": "auto",
        "xmlIdSeed": layout.id_seed,
        "svgViewBox": False,
    })
    if piece.path is not None and _utf16_musicxml_inside(piece.path):
        # Verovio cannot read it and says so on stderr whatever its log level (into the progress
        # bar): fail here, quietly, as Verovio would (the generator draws another piece, so the
        # pages of a seed are the same as when Verovio was asked)
        raise EngraveError(f"{piece.key}: UTF-16 MusicXML inside (Verovio cannot read it)")
    if piece.path is not None:
        ok = toolkit.loadFile(str(piece.path))
    else:
        ok = toolkit.loadData(piece.data)
    pages = toolkit.getPageCount() if ok else 0
    if pages < 1:
        raise EngraveError(f"verovio could not load {piece.key}")
    return pages


def _utf16_musicxml_inside(path) -> bool:
    """Whether a compressed MusicXML file (.mxl) holds its score as UTF-16 (42 of music21's 535)."""
    if str(path).lower()[-4:] != ".mxl":
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            scores = [n for n in archive.namelist()
                      if not n.startswith("META-INF") and n.lower().endswith((".xml", ".musicxml"))]
            return any(archive.open(n).read(2) in (b"\xff\xfe", b"\xfe\xff") for n in scores)
    except (OSError, zipfile.BadZipFile):
        return False  # Verovio will say what is wrong with it


def make_toolkit() -> verovio.toolkit:
    """A Verovio toolkit with its log silenced (corpus files trigger many warnings)."""
    verovio.enableLog(verovio.LOG_OFF)
    return verovio.toolkit()
