"""Stems: the rule proposes, the ink decides.

For each notehead that carries a stem (not whole / double whole) four placements are tried:
up on the right edge and down on the left edge (the rule's), then up on the left and down on
the right (a note pushed to the other side of a chord's stem by a second). For each, the
vertical dark run that leaves the notehead in that direction is measured column by column;
the placement whose run reaches farthest beyond the notehead (at least
``min_stem_ink_sp``) is the stem. Its exact x, width and tip come from the gray coverage, its
base is the notehead centre moved ``stem_attach_sp`` towards the tip (the part hidden inside
the notehead, which the DSv2 boxes include). When the ink shows nothing, the rule's stem is
emitted with a lower score: down on or above the middle line, up below, 3.5 spaces long
(reaching the middle line from beyond the ledger lines).

Notes of a chord measure the same ink column, so stems on the same staff and column whose
spans overlap are merged: one stem per chord, from the farthest note's base to the tip.
All boxes are in the ink frame (see ``frame.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import numpy as np

from detector.reconstruct.ledgers import NoteOnStaff
from detector.reconstruct.rules import EngravingRules
from detector.reconstruct.staff import Staff
from detector.reconstruct.symbols import notehead_kind

Direction = Literal["up", "down"]
Side = Literal["left", "right"]

#: Placements tried, the rule's two first (see module docstring).
PLACEMENTS: tuple[tuple[Direction, Side], ...] = (
    ("up", "right"), ("down", "left"), ("up", "left"), ("down", "right"),
)

#: Score of a stem measured on the ink, and of one only the rule proposes.
INK_SCORE, RULE_SCORE = 0.95, 0.3


@dataclass
class Stem:
    """One stem (ink-frame box), its direction and the noteheads it carries (a chord: several)."""

    staff_index: int
    box: tuple[float, float, float, float]
    direction: Direction
    from_ink: bool
    notes: list[NoteOnStaff] = field(default_factory=list)
    symbol_index: Optional[int] = None  # index of its rebuilt Symbol in ``StructureResult.symbols``

    @property
    def tip_y(self) -> float:
        """y of the free end (top of an up-stem, bottom of a down-stem)."""
        return self.box[1] if self.direction == "up" else self.box[3]

    @property
    def x(self) -> float:
        return 0.5 * (self.box[0] + self.box[2])


@dataclass
class _Run:
    """One measured placement: the stem's ink columns and how far it reaches."""

    direction: Direction
    side: Side
    reach_px: float  # beyond the notehead's edge
    col0: int  # first and last ink column (page px, inclusive)
    col1: int
    tip_row: int  # last ink row of the run (page px)
    tip_drift: int = 0  # columns the stem has moved sideways at its tip (skewed page)


def _measure_run(
    ink: np.ndarray, note: NoteOnStaff, direction: Direction, side: Side, sp: float, staff_slope: float,
    rules: EngravingRules,
) -> Optional[_Run]:
    """The longest vertical ink run leaving the notehead at ``side`` towards ``direction``."""
    max_len_sp = rules.stem_search_sp
    height, width = ink.shape
    x0, y0, x1, y1 = note.box
    h = y1 - y0
    edge = x1 if side == "right" else x0
    inward = -1 if side == "right" else 1
    c_in = edge + inward * rules.stem_search_inside_sp * sp
    c_out = edge - inward * rules.stem_search_outside_sp * sp
    c0, c1 = max(0, int(min(c_in, c_out))), min(width, int(max(c_in, c_out)) + 1)
    cy = 0.5 * (y0 + y1)
    # follow the stem perpendicular to the staff lines: on a skewed page x drifts with y
    if direction == "up":
        start = int(cy - rules.stem_start_share * h)
        rows = start - np.arange(min(int(max_len_sp * sp), start) + 1)  # [L] upwards
        notehead_edge = y0
    else:
        start = int(cy + rules.stem_start_share * h)
        rows = start + np.arange(min(int(max_len_sp * sp), height - 1 - start) + 1)  # [L] downwards
        notehead_edge = y1
    if len(rows) == 0 or c1 <= c0 or not 0 <= start < height:
        return None
    drift = np.rint(-staff_slope * (rows - start)).astype(int)  # [L]
    cols = np.clip(np.arange(c0, c1)[None, :] + drift[:, None], 0, width - 1)  # [L, C]
    window = ink[rows[:, None], cols]  # [L, C], column k follows the stem through row k
    run = np.cumprod(window, axis=0).sum(axis=0)  # [C] contiguous ink rows from the start row
    best = int(np.argmax(run))
    if run[best] == 0:
        return None
    tip_row = start - run[best] + 1 if direction == "up" else start + run[best] - 1
    tip_drift = int(drift[run[best] - 1])
    reach = (notehead_edge - tip_row) if direction == "up" else (tip_row + 1 - notehead_edge)
    strong = run >= rules.stem_column_share * run[best]
    lo = hi = best
    while lo > 0 and strong[lo - 1]:
        lo -= 1
    while hi < len(run) - 1 and strong[hi + 1]:
        hi += 1
    return _Run(direction, side, float(reach), c0 + lo, c0 + hi, int(tip_row), tip_drift)


def _beam_rows_at_tip(ink: np.ndarray, run: _Run, sp: float, rules: EngravingRules) -> int:
    """Vertical thickness (rows) of the beam the stem ends in (0: it ends free or in a flag).

    DSv2 (like the engravers) ends a beamed stem on the beam's centre line, not at its far
    edge where the ink run stops. Beside the stem's tip a beam is a vertical run of 0.3-0.9
    spaces, and through the middle of that run the ink reaches at least a space sideways; a
    flag's top is shorter sideways, a free tip has no ink beside it.
    """
    height, width = ink.shape
    inward = 1 if run.direction == "up" else -1
    for column, outward in ((run.col0 + run.tip_drift - 2, -1), (run.col1 + run.tip_drift + 2, 1)):
        if not 0 <= column < width:
            continue
        rows = run.tip_row + inward * np.arange(int(rules.stem_beam_look_sp * sp))
        rows = rows[(rows >= 0) & (rows < height)]
        beside = ink[rows, column]
        first = int(np.argmax(beside)) if beside.any() else len(beside)
        if first > 2:  # pixels: the beam touches the tip
            continue
        thickness = int(np.argmin(beside[first:])) if not beside[first:].all() else len(beside) - first
        if not rules.min_beam_thickness_sp * sp <= thickness <= rules.stem_tip_beam_max_sp * sp:
            continue
        mid_row = run.tip_row + inward * (first + thickness // 2)
        if not 0 <= mid_row < height:
            continue
        line = ink[mid_row, column::outward]  # from beside the stem outwards
        sideways = int(np.argmin(line)) if not line.all() else len(line)
        if sideways >= rules.stem_tip_beam_sideways_sp * sp:
            return first + thickness
    return 0


def _stem_box_from_ink(
    gray: np.ndarray, ink: np.ndarray, run: _Run, base_y: float, notehead_edge_y: float, sp: float,
    rules: EngravingRules,
) -> tuple[float, float, float, float]:
    """Sub-pixel stem box: x and width from the column coverage, tip from the end row's coverage."""
    height, width = gray.shape
    half_drift = int(np.ceil(abs(run.tip_drift) / 2))
    c0 = max(0, run.col0 - 1 - (half_drift if run.tip_drift < 0 else 0))
    c1 = min(width, run.col1 + 2 + (half_drift if run.tip_drift > 0 else 0))
    # x and width from the half of the visible stem next to the notehead: flags and beams
    # hug the other half
    middle = 0.5 * (notehead_edge_y + run.tip_row)
    top, bottom = sorted((int(notehead_edge_y), int(middle)))
    rows = np.arange(max(0, top), min(height - 1, bottom) + 1)
    if len(rows) == 0:
        rows = np.array([min(max(run.tip_row, 0), height - 1)])
    cov = (255.0 - gray[rows][:, c0:c1].astype(np.float32)) / 255.0  # [R, C]
    row_sums = cov.sum(axis=1)
    # other ink (a flag hugging the stem, a staff line) only ever widens a row: take the
    # narrow rows, those crossed by nothing but the stem
    stem_width = float(np.percentile(row_sums, 25))
    thin = row_sums <= stem_width + 0.5
    cov_thin = cov[thin]
    col_centres = np.arange(c0, c1) + 0.5
    row_centres = (cov_thin * col_centres).sum(axis=1) / np.maximum(cov_thin.sum(axis=1), 1e-6)
    # a skewed page slants the stem: the box spans its centre line from tip to base
    slope, offset = _robust_line(rows[thin] + 0.5, row_centres, max_slope=rules.max_stem_slant)
    # tip: the end row plus the anti-aliased share of the row beyond it
    beyond = run.tip_row - 1 if run.direction == "up" else run.tip_row + 1
    beyond_cov = 0.0
    if 0 <= beyond < height:
        stem_cols = slice(max(0, run.col0 + run.tip_drift), max(0, run.col1 + run.tip_drift + 1))
        beyond_cov = float(np.clip((255.0 - gray[beyond, stem_cols].astype(np.float32)).mean() / 255.0, 0, 1))
    beam_rows = _beam_rows_at_tip(ink, run, sp, rules)
    if beam_rows:
        beyond_cov = -0.5 * beam_rows  # the centre line of the beam
    tip = run.tip_row - beyond_cov if run.direction == "up" else run.tip_row + 1 + beyond_cov
    x_tip, x_base = offset + slope * tip, offset + slope * base_y
    y0, y1 = sorted((tip, base_y))
    return (min(x_tip, x_base) - 0.5 * stem_width, y0, max(x_tip, x_base) + 0.5 * stem_width, y1)


def _robust_line(t: np.ndarray, v: np.ndarray, max_slope: float) -> tuple[float, float]:
    """(slope, offset) of v = offset + slope * t, median-anchored; slope clipped to ``max_slope``."""
    if len(t) < 6 or np.ptp(t) < 4:
        return 0.0, float(np.median(v))
    third = max(2, len(t) // 3)
    order = np.argsort(t)
    t_a, v_a = np.median(t[order[:third]]), np.median(v[order[:third]])
    t_b, v_b = np.median(t[order[-third:]]), np.median(v[order[-third:]])
    slope = float(np.clip((v_b - v_a) / max(t_b - t_a, 1e-6), -max_slope, max_slope))
    offset = float(np.median(v - slope * t))
    return slope, offset


def _base_y(note: NoteOnStaff, direction: Direction, sp: float, rules: EngravingRules) -> float:
    """Where the stem starts inside the notehead: its centre moved towards the tip."""
    cy = 0.5 * (note.box[1] + note.box[3])
    half = notehead_kind(note.class_name) == "Half"
    attach = (rules.stem_attach_half_sp if half else rules.stem_attach_sp) * sp
    return cy - attach if direction == "up" else cy + attach


def _ink_stem(
    gray: np.ndarray, ink: np.ndarray, note: NoteOnStaff, staff: Staff, rules: EngravingRules,
) -> Optional[Stem]:
    """The stem the ink shows at this notehead, or None."""
    sp = staff.staff_space_px
    slope = staff.slope_at(0.5 * (note.box[0] + note.box[2]))
    runs = [_measure_run(ink, note, d, s, sp, slope, rules) for d, s in PLACEMENTS]
    min_reach = rules.min_stem_ink_sp * sp
    max_cols = rules.max_stem_width_sp * sp + 2
    valid = [r for r in runs if r is not None and r.reach_px >= min_reach and r.col1 - r.col0 + 1 <= max_cols]
    if not valid:
        return None
    regular = [r for r in valid if (r.direction, r.side) in PLACEMENTS[:2]]
    run = max(regular or valid, key=lambda r: r.reach_px)
    base = _base_y(note, run.direction, sp, rules)
    edge = note.box[1] if run.direction == "up" else note.box[3]
    box = _stem_box_from_ink(gray, ink, run, base, edge, sp, rules)
    return Stem(note.staff_index, box, run.direction, True, [note])


def _rule_stem(notes: list[NoteOnStaff], staff: Staff, stem_width: float, rules: EngravingRules) -> Stem:
    """The engraving rule's stem for a chord (or a single note) the ink did not confirm."""
    sp = staff.staff_space_px
    far = max(notes, key=lambda n: abs(n.position - 4))
    direction: Direction = "down" if far.position >= 4 else "up"
    lowest, highest = min(notes, key=lambda n: n.position), max(notes, key=lambda n: n.position)
    tip_note, base_note = (lowest, highest) if direction == "down" else (highest, lowest)
    cx = 0.5 * (tip_note.box[0] + tip_note.box[2])
    tip_cy = 0.5 * (tip_note.box[1] + tip_note.box[3])
    middle_y = float(staff.y_of_position(4, cx))
    length = rules.stem_length_sp * sp
    far_hs = rules.stem_reaches_middle_beyond_hs  # beyond this the stem reaches the middle line
    base = _base_y(base_note, direction, sp, rules)
    if direction == "up":
        tip = min(tip_cy - length, middle_y) if tip_note.position <= -far_hs else tip_cy - length
        x1 = max(n.box[2] for n in notes)
        box = (x1 - stem_width, min(tip, base), x1, max(tip, base))
    else:
        tip = max(tip_cy + length, middle_y) if tip_note.position >= 8 + far_hs else tip_cy + length
        x0 = min(n.box[0] for n in notes)
        box = (x0, min(base, tip), x0 + stem_width, max(base, tip))
    return Stem(far.staff_index, box, direction, False, list(notes))


def _same_stem(a: Stem, b: Stem, sp: float, rules: EngravingRules) -> bool:
    """Two measurements of one chord's stem: same staff, direction and column, touching spans."""
    if a.staff_index != b.staff_index or a.direction != b.direction:
        return False
    if abs(a.x - b.x) > rules.stem_merge_dx_sp * sp + 1.0:  # plus a pixel: the columns are whole pixels
        return False
    gap = rules.stem_merge_gap_sp * sp
    return a.box[1] <= b.box[3] + gap and b.box[1] <= a.box[3] + gap


def _merge(stems: list[Stem], staves: list[Staff], rules: EngravingRules) -> list[Stem]:
    """Union chord stems found note by note into one stem per chord."""
    merged: list[Stem] = []
    for stem in sorted(stems, key=lambda s: (s.staff_index, s.x)):
        sp = staves[stem.staff_index].staff_space_px
        into = next((m for m in merged if _same_stem(m, stem, sp, rules)), None)
        if into is None:
            merged.append(Stem(stem.staff_index, stem.box, stem.direction, stem.from_ink, list(stem.notes)))
            continue
        longest = into if (into.box[3] - into.box[1]) >= (stem.box[3] - stem.box[1]) else stem
        into.box = (
            longest.box[0], min(into.box[1], stem.box[1]), longest.box[2], max(into.box[3], stem.box[3]),
        )
        into.notes.extend(stem.notes)
        into.from_ink = into.from_ink or stem.from_ink
    return merged


def _chords(notes: list[NoteOnStaff], gap_px: float) -> list[list[NoteOnStaff]]:
    """Noteheads of one staff whose x ranges overlap or touch: the notes of one chord."""
    groups: list[list[NoteOnStaff]] = []
    for note in sorted(notes, key=lambda n: (n.staff_index, n.box[0])):
        last = groups[-1] if groups else None
        same_staff = last and last[0].staff_index == note.staff_index
        if same_staff and note.box[0] <= max(n.box[2] for n in last) + gap_px:
            last.append(note)
        else:
            groups.append([note])
    return groups


def rebuild_stems(
    gray: np.ndarray, ink: np.ndarray, staves: list[Staff], notes: list[NoteOnStaff], rules: EngravingRules,
) -> list[Stem]:
    """One stem per stemmed note or chord: measured on the ink, else proposed by the rule.

    Args:
        gray: ``[H, W] uint8`` page (sub-pixel coverage); ink: its ``[H, W] bool`` mask.
        notes: the noteheads that carry stems, placed on their staves (ink frame).
    """
    found, unconfirmed = [], []
    for note in notes:
        stem = _ink_stem(gray, ink, note, staves[note.staff_index], rules)
        (found.append(stem) if stem is not None else unconfirmed.append(note))
    stems = _merge(found, staves, rules)
    widths = [s.box[2] - s.box[0] for s in stems]
    confirmed_ids = {id(n) for s in stems for n in s.notes}
    # a note the ink did not confirm may still sit inside a found chord stem's span
    leftovers = []
    for note in unconfirmed:
        sp = staves[note.staff_index].staff_space_px
        cy = 0.5 * (note.box[1] + note.box[3])
        dx, dy = rules.stem_host_dx_sp * sp, rules.stem_host_dy_sp * sp
        host = next((s for s in stems if s.staff_index == note.staff_index
                     and note.box[0] - dx <= s.x <= note.box[2] + dx
                     and s.box[1] - dy <= cy <= s.box[3] + dy), None)
        if host is not None:
            host.notes.append(note)
        elif id(note) not in confirmed_ids:
            leftovers.append(note)
    for chord in _chords(leftovers, rules.chord_gap_sp * (staves[0].staff_space_px if staves else 0)):
        staff = staves[chord[0].staff_index]
        width = float(np.median(widths)) if widths else rules.stem_thickness_sp * staff.staff_space_px
        stems.append(_rule_stem(chord, staff, width, rules))
    return stems


def end_stems_in_flags(stems: list[Stem], flags: list[tuple[str, tuple[float, float, float, float]]],
                       staves: list[Staff], rules: EngravingRules) -> None:
    """Move the tip of each stem that ends in a 32nd-or-shorter flag to where the annotation ends it.

    The ink cannot tell the stem from the flag's own upright stroke; the flag symbol can.
    ``flags``: (class name, ink-frame box) of the input's flag symbols.
    """
    for name, (fx0, fy0, fx1, fy1) in flags:
        share = next((v for k, v in rules.flag_stem_share.items() if name.startswith(k)), 0.0)
        if not share:
            continue
        for stem in stems:
            sp = staves[stem.staff_index].staff_space_px
            edge, margin = rules.flag_edge_sp * sp, rules.flag_tip_margin_sp * sp
            at_flag_edge = fx0 - edge <= stem.x <= fx0 + edge
            if not at_flag_edge or not fy0 - margin <= stem.tip_y <= fy1 + margin:
                continue
            x0, y0, x1, y1 = stem.box
            if stem.direction == "up":
                moved = (x0, max(y0, fy0 + share * (fy1 - fy0)), x1, y1)
            else:
                moved = (x0, y0, x1, min(y1, fy1 - share * (fy1 - fy0)))
            # A stray flag (a detector's false positive) must not turn the stem inside out.
            if moved[3] - moved[1] >= rules.min_stem_ink_sp * sp:
                stem.box = moved
