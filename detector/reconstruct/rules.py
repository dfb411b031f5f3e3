"""Engraving rules used as priors by the stem and ledger-line reconstruction.

Lengths are in staff spaces (Elaine Gould, *Behind Bars*; SMuFL ``engravingDefaults``,
see /work/shared/ENGRAVING.md). The page's ink corrects them wherever it can be measured.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EngravingRules:
    """Rule values (staff spaces unless the name says otherwise)."""

    stem_length_sp: float = 3.5  # one octave, from the notehead centre to the tip
    stem_thickness_sp: float = 0.12  # used only when no stem ink could be measured
    stem_attach_sp: float = 0.19  # the stem starts this far from a black notehead's centre, towards the tip
    stem_attach_half_sp: float = 0.26  # the same for a half notehead (its stem attaches farther out)
    min_stem_ink_sp: float = 1.2  # an ink run shorter than this beyond the notehead is not a stem
    max_stem_width_sp: float = 0.35  # a wider vertical run is a barline/beam/other symbol, not a stem
    ledger_extension_sp: float = 0.4  # legerLineExtension, each side of the notehead
    ledger_thickness_ratio: float = 1.23  # legerLineThickness 0.16 / staffLineThickness 0.13
    ledger_search_sp: float = 0.3  # how far from its rule position a ledger line's ink is looked for
    chord_gap_sp: float = 0.3  # noteheads closer than this horizontally share a stem / ledger line
    # Flags of 32nd notes and shorter carry the stem's end inside their glyph: the annotated
    # stem stops this share of the flag's height short of the flag's far edge (measured on
    # Verovio's five fonts: 0.17-0.21, 0.30-0.33, 0.40-0.43; 8th and 16th flags: 0).
    flag_stem_share: dict = field(
        default_factory=lambda: {"flag32nd": 0.19, "flag64th": 0.32, "flag128th": 0.42}
    )
