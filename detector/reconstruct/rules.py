"""Every threshold of reconstruction, in one object: structure (staves, stems, ledger lines)
and reading (rhythm, pitch, beams, barlines, voices, tuplets, systems).

Lengths are in staff spaces (``_sp``) or half spaces (``_hs``, the unit of staff positions);
``_px`` is page pixels (used only before the staff space is known); a bare name is a share
(0-1), a weight or a count. Each comment starts with where the value comes from:

- ``engraving``: an engraving fact (Elaine Gould, *Behind Bars*; SMuFL ``engravingDefaults``,
  see /work/shared/ENGRAVING.md), or a margin derived from one as the comment shows;
- ``measured``: measured on engraved pages or glyphs (the comment says on what);
- ``tuned``: set by hand and kept because the tests and the synthetic pages read right with
  it; no measurement behind it yet.

The page's ink corrects the priors wherever it can be measured.

One object rather than one per step: the structure step and the music step measure in the
same unit and share facts (a beam's thickness, a flag's reach, a chord's gap), so the structure
result carries the rules it was built with (``StructureResult.rules``) and the music step reads
with the same ones. It is passed down explicitly; nothing reads a global copy.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class EngravingRules:
    """Rule values (staff spaces unless the name says otherwise); see the module docstring."""

    # ---------------------------------------------------------------- stems (structure)
    stem_length_sp: float = 3.5  # engraving: one octave, from the notehead centre to the tip
    stem_thickness_sp: float = 0.12  # engraving: used only when no stem ink could be measured
    stem_attach_sp: float = 0.19  # tuned: a black notehead's stem starts this far from its centre
    stem_attach_half_sp: float = 0.26  # tuned: the same for a half notehead (attaches farther out)
    min_stem_ink_sp: float = 1.2  # tuned: an ink run shorter than this beyond the notehead is not a stem
    max_stem_width_sp: float = 0.35  # tuned: a wider vertical run is a barline/beam/other symbol
    ledger_extension_sp: float = 0.4  # engraving: legerLineExtension, each side of the notehead
    ledger_thickness_ratio: float = 1.23  # engraving: legerLineThickness 0.16 / staffLineThickness 0.13
    ledger_search_sp: float = 0.3  # tuned: how far from its rule position a ledger line's ink is looked for
    chord_gap_sp: float = 0.3  # tuned: noteheads closer than this in x share a stem / ledger line
    # measured: flags of 32nd notes and shorter carry the stem's end inside their glyph: the
    # annotated stem stops this share of the flag's height short of the flag's far edge (on
    # Verovio's five fonts: 0.17-0.21, 0.30-0.33, 0.40-0.43; 8th and 16th flags: 0).
    flag_stem_share: dict = field(
        default_factory=lambda: {"flag32nd": 0.19, "flag64th": 0.32, "flag128th": 0.42}
    )
    stem_search_sp: float = 7.0  # engraving: two octaves, longer than any stem (wide beamed leaps)
    stem_search_inside_sp: float = 0.45  # tuned: columns searched inside the head's edge (stems overlap it)
    stem_search_outside_sp: float = 0.25  # tuned: ... and outside it (a box a pixel or two narrow)
    stem_start_share: float = 0.3  # tuned: a stem run starts this share of the head's height from its centre
    stem_column_share: float = 0.6  # tuned: columns reaching this share of the longest run are the stem
    stem_beam_look_sp: float = 1.0  # engraving: a 0.5 sp beam lies within a space beside the stem's tip
    stem_tip_beam_max_sp: float = 0.9  # engraving: one beam is 0.5 sp; thicker is a stack or a blob
    stem_tip_beam_sideways_sp: float = 1.0  # tuned: a beam leaves the stem sideways this far (a flag less)
    max_stem_slant: float = 0.1  # tuned: dx/dy of a stem on a skewed page (about 6 degrees)
    stem_merge_dx_sp: float = 0.15  # tuned: stems closer than this (plus a pixel) are one chord stem ...
    stem_merge_gap_sp: float = 0.5  # tuned: ... when their spans also come this close
    stem_host_dx_sp: float = 0.2  # tuned: an unconfirmed note joins a found stem this close to its edges ...
    stem_host_dy_sp: float = 0.5  # tuned: ... and this close to the stem's span
    stem_reaches_middle_beyond_hs: int = 4  # engraving: two ledger lines out, stems reach the middle line
    flag_edge_sp: float = 0.3  # tuned: a stem ends in a flag whose left edge is this close to it
    # ---------------------------------------------------------------- ledger lines (structure)
    max_ledger_thickness_sp: float = 0.35  # engraving: ledger lines are 0.16 sp; thicker is a flag or beam
    ledger_search_margin_sp: float = 0.6  # tuned: columns read beyond the rule's extension (engravers vary)
    ledger_ink_cover: float = 0.5  # tuned: a pixel is ink at half coverage (anti-aliased edges)
    ledger_min_peak: float = 0.4  # tuned: a row profile peaking lower than this shows no line
    ledger_core_share: float = 0.5  # tuned: the line's rows are those above half its peak coverage ...
    ledger_core_sp: float = 0.2  # engraving: ... within this of the peak row (a line is 0.16 sp)
    ledger_end_tolerance_sp: float = 0.35  # tuned: an end farther past the rule's is a neighbour's line
    ledger_min_overhang_sp: float = 0.05  # tuned: a line sticking out less than this is not seen
    max_ledger_slope: float = 0.1  # tuned: dy/dx of a ledger line on a skewed page
    # ---------------------------------------------------------------- staves (structure)
    min_staff_space_px: float = 5.0  # tuned: below any page seen (DSv2 ~20-30 px, small scans ~8) ...
    max_staff_space_px: float = 200.0  # tuned: ... up to this
    staff_min_runs: int = 50  # tuned: fewer vertical ink runs on the page is too little ink for staves
    staff_min_gap_to_line: int = 2  # engraving: the white between lines is many line thicknesses (>= 2)
    staff_strip_sp: float = 3.0  # tuned: narrower strips follow steeper skew, wider ignore symbols
    staff_row_fill: float = 0.5  # tuned: a strip's row is "line" when this share of its pixels is ink
    staff_line_max_height_sp: float = 0.5  # tuned: a line is at most this thicker than the page's lines
    staff_spacing_tolerance: float = 0.25  # tuned: consecutive lines are one space apart within this share
    max_skew_slope: float = 0.07  # tuned: steepest skew followed (dy/dx, about 4 degrees)
    staff_predict_strips: int = 8  # tuned: a track's middle line is predicted from its last 8 strips
    staff_link_sp: float = 0.35  # tuned: a strip's lines continue a track this close to the prediction ...
    staff_link_drift: float = 0.01  # tuned: ... plus this per pixel since the track's last strip (curves)
    staff_chain_overlap_sp: float = 0.5  # engraving: half a space apart, two chains share lines
    min_staff_strips: int = 3  # tuned: a staff must be seen in at least this many strips
    staff_fit_residual_sp: float = 0.15  # tuned: a point this close to its line's fit is never an outlier
    staff_line_ink_share: float = 0.9  # tuned: a staff line is inked along this share of the staff ...
    staff_line_ink_margin: float = 0.2  # tuned: ... and this much more than the line it replaces (ledgers)
    staff_extent_lines: int = 4  # tuned: the staff runs where 4 of its 5 lines have ink (a symbol hides one)
    staff_break_sp: float = 1.0  # tuned: gaps in the lines shorter than this are scan dropouts, bridged
    min_staff_length_sp: float = 6.0  # engraving: a staff holds at least a clef, a key and a note
    staff_min_line_gap_sp: float = 0.5  # engraving: lines a space apart; closer fits cross (staves mixed)
    # ---------------------------------------------------------------- noteheads and frame (structure)
    notehead_max_outside_sp: float = 8.0  # engraving: farther than 8 ledger lines no note is written
    frame_position_reach_hs: int = 12  # engraving: noteheads within 6 ledger lines fit the box frame
    frame_min_noteheads: int = 5  # tuned: fewer noteheads cannot fit a frame: the identity is used
    outlier_sigmas: float = 3.0  # tuned: residuals past this many robust sigmas are outliers (frame, lines)
    # ---------------------------------------------------------------- beams (reading)
    min_beam_thickness_sp: float = 0.3  # engraving: beams are 0.5 sp thick, staff lines 0.13, slurs < 0.25
    max_beam_thickness_sp: float = 1.5  # engraving: thicker than two merged beams is a notehead or a blob
    beam_search_sp: float = 3.6  # engraving: up to 4 beams (0.5 + 0.25 spacing each) from the tip
    beyond_tip_sp: float = 2.6  # measured: some engravers end a stem at the inner beam, the rest beyond
    beam_pitch_sp: float = 0.75  # engraving: beam 0.5 + gap 0.25: a merged band holds length / this beams
    merged_beams_sp: float = 0.9  # engraving: a band thicker than one beam (0.5) by far is merged beams
    beam_column_near_sp: float = 0.45  # tuned: columns beside the stem where beams are looked for: near ...
    beam_column_far_sp: float = 0.9  # tuned: ... and far (a beam continues sideways, a head's blob does not)
    beam_slope_tolerance_sp: float = 0.45  # engraving: beams slope at most about 0.5 sp per space
    beam_tip_reach_sp: float = 1.0  # tuned: the band nearest the stem's tip is this close, or no beam
    beam_stack_gap_sp: float = 1.1  # engraving: beams of a stack are 0.75 sp apart; a wider gap ends it
    beam_connect_share: float = 0.85  # tuned: share of the line between two tips that must be ink
    beam_connect_reach_sp: float = 0.3  # engraving: tips found to a pixel or two, beams 0.5 sp thick
    beam_stop_before_head_sp: float = 0.5  # engraving: a notehead is a space tall: stop half a space short
    # ---------------------------------------------------------------- flags and dots (reading)
    flag_reach_sp: float = 1.0  # tuned: a flag belongs to a stem whose |dx| + weighted dy is under this
    flag_stem_dx_sp: float = 0.6  # tuned: flags hang right of the stem, starting this close to it
    flag_tip_margin_sp: float = 0.5  # tuned: the stem's tip lies within the flag's height, give or take this
    flag_dy_weight: float = 0.2  # tuned: dy counts this much against dx (flags are tall)
    dot_overlap_sp: float = 0.3  # tuned: an augmentation dot's box may overlap its owner's by this
    dot_reach_sp: float = 2.5  # engraving: ... and sits at most this far right of it (dots and their gaps)
    dot_rise_sp: float = 1.0  # engraving: a line note's dot moves up half a space; 1 sp leaves room
    dot_dy_weight: float = 0.5  # tuned: dy counts half against dx when choosing a dot's owner
    max_dots: int = 3  # engraving: no value carries more than three augmentation dots
    # ---------------------------------------------------------------- voices, signatures, accidentals
    coincident_sp: float = 0.6  # tuned: events closer than this in x sound together (chord / two voices)
    signature_gap_sp: float = 1.2  # tuned: key and time signature glyphs closer than this are one
    flat_bowl_sp: float = 0.55  # measured: a flat's bowl (its pitch) is centred this far above its bottom
    accidental_overlap_sp: float = 0.4  # tuned: an accidental's box may overlap its notehead's by this
    accidental_reach_sp: float = 3.0  # engraving: ... and stand this far left of it (chord accidentals stack)
    accidental_position_hs: float = 1.5  # tuned: an accidental is at its notehead's position within this
    accidental_gap_weight: float = 0.3  # tuned: cost of a space of gap, against a half space of height
    # measured: where a plain clef glyph ends, in half spaces from its own line: (below, above).
    # Typical of the Verovio fonts and DSv2's Emmentaler; a box reaching a space further carries
    # an octave mark inside the glyph (Verovio's gClef8vb), which DSv2 would give as clef8/clef15.
    clef_reach_hs: dict = field(default_factory=lambda: {
        "clefG": (-5.3, 9.9), "clefF": (-4.7, 2.4), "clefCAlto": (-4.2, 4.2), "clefCTenor": (-4.2, 4.2),
    })
    # measured: how far (half spaces) a clef box must reach past ``clef_reach_hs`` to carry an
    # octave mark. On 12 synthetic pages plain clefs overshoot by -0.5..0.5, octave clefs by
    # 1.5-2.6 (BWV 248.42's tenor: 2.6); the shipped detector's plain clefG boxes overshot by up to
    # 1.2 on unseen pages (a text page of BWV 414, an O'Neill tune), turning whole staves an
    # octave down: at 1.0 the end-to-end note error rate (pitch) of 8 unseen pages was 0.033,
    # at 1.6 (or with no guess at all) 0.019. The clef8/clef15 marks are the better evidence.
    octave_overshoot_hs: float = 1.6
    # engraving: an octave clef's "8" (or "15") stands centred under (over) the clef, outside the
    # staff, within this many spaces of the clef or the staff, whichever reaches further. Used when
    # the detector gives no clef8/clef15 box: the mark is looked for in the ink (v3 missed all three
    # tenor "8"s of a Palestrina page, 38 notes an octave high).
    octave_mark_reach_sp: float = 2.2
    octave_mark_height_sp: tuple = (0.5, 1.5)  # measured: the digits' height (Verovio fonts, DSv2 0.9)
    octave_mark_width_sp: tuple = (0.3, 1.1)  # ... and an "8"'s width
    f_clef_top_hs: float = 2.1  # measured: an F clef glyph's top is this far above its line
    # engraving: a key change stands right after its (double) barline, a clef change between them
    # at most; a lone key glyph farther from every barline, among the notes, is an accidental
    key_change_reach_sp: float = 4.0
    # ---------------------------------------------------------------- tuplets (reading)
    # engraving: a tuplet number without a bracket belongs to a beamed group whose stem tips are
    # at most this far from it: engravers set it beyond the beam (Verovio: up to 3.1 spaces from
    # the nearest tip, measured on a Leipzig page of seed 13). Farther digits are figured bass,
    # fingerings or lyrics' verse numbers and never change durations.
    tuplet_reach_sp: float = 4.0
    # engraving: the number is centred on its group (over the middle of the beam); a digit off the
    # group's centre by more than this share of the group's width is not its tuplet number
    tuplet_centre_share: float = 0.25
    tuplet_bracket_reach_sp: float = 1.0  # engraving: a tuplet number sits on its bracket, within a space
    tuplet_margin_sp: float = 0.5  # tuned: notes (bracket), the number (beamed group) may stand this far out
    # ---------------------------------------------------------------- barlines and systems (reading)
    max_barline_width_sp: float = 0.8  # engraving: a thick final bar is about 0.5 sp; wider is a symbol
    barline_min_cover: float = 0.92  # tuned: share of the staff height that must be ink (scan breaks)
    barline_merge_gap_sp: float = 1.2  # engraving: double and final barlines' lines are closer than this
    barline_clearance_sp: float = 0.25  # tuned: a line this close to a symbol box is that symbol's (a stem)
    system_join_search_sp: float = 1.0  # tuned: the line joining a system's staves is this near their start
    system_join_cover: float = 0.95  # tuned: share of the gap between two staves that line must ink
