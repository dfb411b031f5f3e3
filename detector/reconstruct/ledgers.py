"""Ledger lines: which ones each notehead needs (rule), where exactly they are (ink).

A notehead at staff position p <= -2 needs ledger lines at -2, -4, ... down to p (p >= 10:
10, 12, ... up to p); see ``Staff.position``. Notes of a chord, and notes a second apart
that sit on both sides of a stem, share one ledger line per position: requests at the same
position whose x ranges touch are merged (union of extents) before anything is drawn, so
a ledger line is never emitted twice.

All boxes here are in the ink frame (see ``frame.py``); the caller converts them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from detector.reconstruct.rules import EngravingRules
from detector.reconstruct.staff import Staff


@dataclass
class NoteOnStaff:
    """A notehead placed on its staff (ink-frame box)."""

    box: tuple[float, float, float, float]
    class_name: str
    staff_index: int
    position: int  # rounded staff position, half spaces (0 = bottom line)
    symbol_id: Optional[str] = None
    symbol_index: Optional[int] = None  # index of its Symbol in ``StructureResult.symbols``


@dataclass
class LedgerLine:
    """One rebuilt ledger line (ink-frame box) and the noteheads that asked for it."""

    staff_index: int
    position: int  # -2, -4, ... below the staff; 10, 12, ... above
    box: tuple[float, float, float, float]
    from_ink: bool  # False: the ink did not show it, the box is the rule's
    note_ids: list[Optional[str]] = field(default_factory=list)


def ledger_positions(position: int) -> list[int]:
    """The ledger-line positions a notehead at ``position`` needs (nearest the staff first)."""
    if position <= -2:
        return list(range(-2, position - 1, -2))
    if position >= 10:
        return list(range(10, position + 1, 2))
    return []


def _merged_requests(
    notes: list[NoteOnStaff], gap_px_by_staff: dict[int, float],
) -> list[tuple[int, int, float, float, list]]:
    """(staff, position, x0, x1, note ids) per ledger line, chord requests merged."""
    requests: dict[tuple[int, int], list[tuple[float, float, Optional[str]]]] = {}
    for note in notes:
        for q in ledger_positions(note.position):
            requests.setdefault((note.staff_index, q), []).append((note.box[0], note.box[2], note.symbol_id))
    merged = []
    for (staff_index, q), spans in requests.items():
        spans.sort()
        x0, x1, ids = spans[0][0], spans[0][1], [spans[0][2]]
        for a, b, sid in spans[1:]:
            if a <= x1 + gap_px_by_staff[staff_index]:
                x1, ids = max(x1, b), ids + [sid]
            else:
                merged.append((staff_index, q, x0, x1, ids))
                x0, x1, ids = a, b, [sid]
        merged.append((staff_index, q, x0, x1, ids))
    return merged


def _fit_to_ink(
    gray: np.ndarray, staff: Staff, q: int, nx0: float, nx1: float, rules: EngravingRules,
    both_sides: bool = False,
) -> Optional[tuple[float, float, float, float]]:
    """The ink box of the ledger line expected at position ``q`` under noteheads spanning [nx0, nx1].

    The line's rows and thickness come from the columns where it sticks out beyond the
    noteheads (there it is the only ink); its ends are where the ink along those rows stops.
    ``both_sides`` asks for the line on both sides of the notes (a flag or an accidental
    touches only one side).
    """
    sp = staff.staff_space_px
    height, width = gray.shape
    ext = rules.ledger_extension_sp * sp
    xc = 0.5 * (nx0 + nx1)
    yc = float(staff.y_of_position(q, xc))
    half_band = rules.ledger_search_sp * sp + staff.line_thickness_px
    r0, r1 = max(0, int(yc - half_band)), min(height, int(yc + half_band) + 1)
    margin = rules.ledger_search_margin_sp * sp
    c0, c1 = max(0, int(nx0 - ext - margin)), min(width, int(nx1 + ext + margin) + 1)
    if r1 - r0 < 3 or c1 - c0 < 3:
        return None
    cov = (255.0 - gray[r0:r1, c0:c1].astype(np.float32)) / 255.0  # [h, w]
    cols = np.arange(c0, c1) + 0.5
    outside = ((cols < nx0) & (cols >= nx0 - ext)) | ((cols > nx1) & (cols <= nx1 + ext))
    if outside.sum() < 2:
        return None
    # the columns beside the notes where a line crosses the band; the rule's extension may be
    # longer than the engraver's, so empty columns are left out
    covered = outside & (cov.max(axis=0) >= rules.ledger_ink_cover)
    if covered.sum() < 2:
        return None
    profile = np.median(cov[:, covered], axis=1)  # [h] typical coverage of each row beside the notes
    peak = int(np.argmax(profile))
    if profile[peak] < rules.ledger_min_peak:
        return None
    core = np.flatnonzero(profile >= rules.ledger_core_share * profile[peak])
    core = core[(core >= peak - sp * rules.ledger_core_sp) & (core <= peak + sp * rules.ledger_core_sp)]
    lo, hi = max(0, core.min() - 1), min(len(profile), core.max() + 2)
    weights = profile[lo:hi]
    thickness = float(weights.sum())
    if thickness > rules.max_ledger_thickness_sp * sp:
        return None  # a flag, beam or slur crossing the band, not a line
    if both_sides and not ((covered & (cols < nx0)).any() and (covered & (cols > nx1)).any()):
        return None
    centre = r0 + float(np.dot(np.arange(lo, hi) + 0.5, weights) / weights.sum())
    slope = _slope_beside_notes(cov[lo:hi], cols, covered, nx0, nx1, rules.max_ledger_slope)
    # horizontal extent: columns whose core rows are inked; notehead columns count as inked
    col_cov = cov[core.min():core.max() + 1].mean(axis=0)  # [w]
    on = (col_cov >= rules.ledger_ink_cover) | ((cols >= nx0) & (cols <= nx1))
    inside = np.flatnonzero((cols >= nx0) & (cols <= nx1))
    if len(inside) == 0:
        return None
    left = right = inside[len(inside) // 2]
    while left > 0 and on[left - 1]:
        left -= 1
    while right < len(on) - 1 and on[right + 1]:
        right += 1
    x0 = c0 + left - (float(col_cov[left - 1]) if left > 0 else 0.0)
    x1 = c0 + right + 1 + (float(col_cov[right + 1]) if right + 1 < len(on) else 0.0)
    # an accidental or a neighbour's ledger joined on: fall back to the rule's end on that side
    tolerance, overhang = rules.ledger_end_tolerance_sp * sp, rules.ledger_min_overhang_sp * sp
    if x0 < nx0 - ext - tolerance or x0 > nx0 - overhang:
        x0 = nx0 - ext
    if x1 > nx1 + ext + tolerance or x1 < nx1 + overhang:
        x1 = nx1 + ext
    # a skewed page slants the line: the box spans its centre line from end to end
    y_left, y_right = centre + slope * (x0 - xc), centre + slope * (x1 - xc)
    return (x0, min(y_left, y_right) - 0.5 * thickness, x1, max(y_left, y_right) + 0.5 * thickness)


def _slope_beside_notes(
    cov_band: np.ndarray, cols: np.ndarray, covered: np.ndarray, nx0: float, nx1: float, max_slope: float,
) -> float:
    """dy/dx of a ledger line from its coverage centroid left and right of the noteheads (0 if one side),
    clipped to ``max_slope``."""
    rows = np.arange(cov_band.shape[0]) + 0.5
    centroids = (cov_band * rows[:, None]).sum(axis=0) / np.maximum(cov_band.sum(axis=0), 1e-6)  # [w]
    left, right = covered & (cols < nx0), covered & (cols > nx1)
    if left.sum() < 2 or right.sum() < 2:
        return 0.0
    dx = np.median(cols[right]) - np.median(cols[left])
    slope = (np.median(centroids[right]) - np.median(centroids[left])) / dx
    return float(np.clip(slope, -max_slope, max_slope))


def ledger_ink_present(
    gray: np.ndarray, staff: Staff, position: int, nx0: float, nx1: float, rules: EngravingRules,
) -> bool:
    """Whether the page shows the ledger line at ``position`` of ``staff`` on both sides of [nx0, nx1]."""
    return _fit_to_ink(gray, staff, position, nx0, nx1, rules, both_sides=True) is not None


def rebuild_ledger_lines(
    gray: np.ndarray, staves: list[Staff], notes: list[NoteOnStaff], rules: EngravingRules,
) -> list[LedgerLine]:
    """Every ledger line the noteheads need, one per (staff, position, chord), fitted to the ink."""
    gaps = {i: rules.chord_gap_sp * s.staff_space_px for i, s in enumerate(staves)}
    ledgers = []
    for staff_index, q, nx0, nx1, ids in _merged_requests(notes, gaps):
        staff = staves[staff_index]
        box = _fit_to_ink(gray, staff, q, nx0, nx1, rules)
        from_ink = box is not None
        if box is None:
            sp = staff.staff_space_px
            yc = float(staff.y_of_position(q, 0.5 * (nx0 + nx1)))
            half = 0.5 * rules.ledger_thickness_ratio * staff.line_thickness_px
            ext = rules.ledger_extension_sp * sp
            box = (nx0 - ext, yc - half, nx1 + ext, yc + half)
        ledgers.append(LedgerLine(staff_index, q, box, from_ink, ids))
    return ledgers
