"""Barlines, found in the ink: DSv2 has no barline class.

A barline is a thin vertical line that covers the whole staff from the top line to the
bottom line. Stems can do that too (a beamed group's long stems), and so can the bars of a C
clef; so a column counts only when no stem, notehead or other symbol box sits on it.
Thin lines close together (double and final barlines) are one barline.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from detector.reconstruct.rules import EngravingRules


def _covered_columns(ink: np.ndarray, staff) -> np.ndarray:
    """Per column of the staff's span, the fraction of rows from top to bottom line that are ink.

    ink: [H, W] bool -> [W] float (0 outside the staff's x range).
    """
    h, w = ink.shape
    cover = np.zeros(w, dtype=float)
    x_lo, x_hi = int(max(0, np.floor(staff.xs[0]))), int(min(w, np.ceil(staff.xs[-1]) + 1))
    if x_hi <= x_lo:
        return cover
    xs = np.arange(x_lo, x_hi)
    y0 = np.clip(np.round(staff.y_at(0, xs)).astype(int), 0, h)  # [X]
    y1 = np.clip(np.round(staff.y_at(4, xs)).astype(int) + 1, 0, h)
    top, bottom = int(y0.min()), int(y1.max())
    band = ink[top:bottom, x_lo:x_hi]  # [B, X]
    rows = np.arange(top, bottom)[:, None]
    inside = (rows >= y0[None, :]) & (rows < y1[None, :])
    cover[x_lo:x_hi] = (band & inside).sum(0) / np.maximum(inside.sum(0), 1)
    return cover


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(x0, x1) inclusive runs of True."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(padded)
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1) - 1))


def find_barlines(ink: np.ndarray, staff, blocking_boxes: np.ndarray,
                  rules: Optional[EngravingRules] = None) -> list[float]:
    """x positions (page pixels) of the barlines of one staff, left to right.

    blocking_boxes: [N, 4] boxes of everything that is not a barline but may look like one
    where it crosses the staff (stems, noteheads, clefs, ...). A candidate line is dropped
    when it lies within a quarter space of one of them that overlaps the staff vertically.
    ``rules``: the thresholds (defaults when None).
    """
    rules = rules or EngravingRules()
    ss = float(staff.staff_space_px)
    cover = _covered_columns(ink, staff)
    top, bottom = float(np.min(staff.line_ys[0])), float(np.max(staff.line_ys[4]))
    xs: list[float] = []
    for x0, x1 in _runs(cover >= rules.barline_min_cover):
        if x1 - x0 + 1 > rules.max_barline_width_sp * ss:
            continue
        centre = (x0 + x1) / 2.0
        if _blocked(centre, x0, x1, top, bottom, blocking_boxes, rules.barline_clearance_sp * ss):
            continue
        if xs and centre - xs[-1] <= rules.barline_merge_gap_sp * ss:
            xs[-1] = centre  # keep the right-most line of a double/final barline
            continue
        xs.append(centre)
    return xs


def _blocked(centre: float, x0: int, x1: int, top: float, bottom: float, boxes: np.ndarray,
             pad: float) -> bool:
    """True when a symbol box overlapping the staff vertically sits on this column (within ``pad`` px)."""
    if len(boxes) == 0:
        return False
    near_x = (boxes[:, 0] - pad <= x1) & (boxes[:, 2] + pad >= x0)
    overlaps_staff = (boxes[:, 1] <= bottom) & (boxes[:, 3] >= top)
    return bool(np.any(near_x & overlaps_staff))
