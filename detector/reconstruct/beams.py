"""Beams, found in the ink: the detector is not trained on them.

A beam is a thick dark band (about 0.5 staff space) that leaves a stem at its tip. Counting
the stack of such bands at the tip, in thin columns just beside the stem, gives the number of
beams that stem carries (1 = 8th, 2 = 16th, 3 = 32nd). Staff lines, slurs and ties are
thinner than the thickness threshold; a band must also continue sideways, which rules out
the dark blobs of noteheads and accidentals that merely sit next to a stem.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from detector.reconstruct.rules import EngravingRules


def _dark_runs(column: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each run of True in a 1-D bool array."""
    padded = np.concatenate([[False], column, [False]]).astype(np.int8)
    diff = np.diff(padded)
    starts = np.flatnonzero(diff == 1)
    ends = np.flatnonzero(diff == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends)]


def _column(ink: np.ndarray, x: float, y0: float, y1: float) -> tuple[np.ndarray, int]:
    """Ink column at x between y0 and y1 (clipped to the page); returns (values, top y)."""
    h, w = ink.shape
    xi = int(round(x))
    top, bottom = max(0, int(round(y0))), min(h, int(round(y1)))
    if not 0 <= xi < w or bottom <= top:
        return np.zeros(0, dtype=bool), top
    return ink[top:bottom, xi], top


def _bands_beside(ink: np.ndarray, x: float, tip_y: float, direction: int, ss: float,
                  rules: EngravingRules) -> list[float]:
    """Centres (y) of beam-thick bands in the column at x, from the stem tip inwards.

    direction: +1 when the stem goes down from the tip to its notehead (an up-stem), -1 else.
    """
    lo, hi = (tip_y - rules.beyond_tip_sp * ss, tip_y + rules.beam_search_sp * ss) if direction > 0 else (
        tip_y - rules.beam_search_sp * ss, tip_y + rules.beyond_tip_sp * ss)
    values, top = _column(ink, x, lo, hi)
    centres = []
    for start, length in _dark_runs(values):
        if rules.min_beam_thickness_sp * ss <= length <= rules.max_beam_thickness_sp * ss:
            # two beams merged by blur count as two when the band is thick enough
            merged = length > rules.merged_beams_sp * ss
            n = max(1, int(round(length / (rules.beam_pitch_sp * ss)))) if merged else 1
            centres.extend([top + start + length * (k + 0.5) / n for k in range(n)])
    return centres


def count_beams(ink: np.ndarray, stem_x: float, tip_y: float, direction: int, ss: float,
                stop_y: float | None = None, rules: Optional[EngravingRules] = None) -> int:
    """How many beams leave the stem at (stem_x, tip_y).

    Looks at columns 0.45 and 0.9 staff space to each side of the stem; a band counts when it
    appears in both columns of one side at about the same height (a beam continues sideways,
    sloping by at most about 0.5 ss per space). `stop_y` bounds the search before the
    notehead so a notehead next to the stem is never read as a beam. ``rules``: the
    thresholds (defaults when None).
    """
    rules = rules or EngravingRules()
    best = 0
    for side in (-1.0, 1.0):
        near = _bands_beside(ink, stem_x + side * rules.beam_column_near_sp * ss, tip_y, direction, ss, rules)
        far = _bands_beside(ink, stem_x + side * rules.beam_column_far_sp * ss, tip_y, direction, ss, rules)
        if stop_y is not None:
            near = [c for c in near if (c < stop_y if direction > 0 else c > stop_y)]
        matched = [c for c in near if any(abs(c - f) <= rules.beam_slope_tolerance_sp * ss for f in far)]
        best = max(best, len(_stack_at_tip(matched, tip_y, ss, rules)))
    return best


def _stack_at_tip(centres: list[float], tip_y: float, ss: float, rules: EngravingRules) -> list[float]:
    """The beams that touch the tip: the band nearest to it and its neighbours 0.75 ss apart.

    Bands farther on (a slur, an articulation, another staff's symbol) are not beams of this stem.
    """
    if not centres:
        return []
    centres = sorted(centres)
    start = min(range(len(centres)), key=lambda k: abs(centres[k] - tip_y))
    if abs(centres[start] - tip_y) > rules.beam_tip_reach_sp * ss:
        return []
    lo = hi = start
    while lo > 0 and centres[lo] - centres[lo - 1] <= rules.beam_stack_gap_sp * ss:
        lo -= 1
    while hi + 1 < len(centres) and centres[hi + 1] - centres[hi] <= rules.beam_stack_gap_sp * ss:
        hi += 1
    return centres[lo:hi + 1]


def beam_connects(ink: np.ndarray, tip_a: tuple[float, float], tip_b: tuple[float, float],
                  ss: float, rules: Optional[EngravingRules] = None) -> bool:
    """True when ink runs along the straight line between two stem tips (the outer beam).

    Each sample along the line may be matched within +-0.3 ss vertically, for the tips are
    found to a pixel or two and the beam is 0.5 ss thick.
    """
    rules = rules or EngravingRules()
    (xa, ya), (xb, yb) = tip_a, tip_b
    if xb - xa < 1:
        return False
    h, w = ink.shape
    xs = np.arange(int(np.ceil(xa)) + 1, int(np.floor(xb)))
    if len(xs) == 0:
        return True
    ys = ya + (yb - ya) * (xs - xa) / (xb - xa)
    reach = max(1, int(round(rules.beam_connect_reach_sp * ss)))
    hits = 0
    for x, y in zip(xs, ys):
        y0, y1 = max(0, int(round(y)) - reach), min(h, int(round(y)) + reach + 1)
        if 0 <= x < w and y1 > y0 and ink[y0:y1, x].any():
            hits += 1
    return hits >= rules.beam_connect_share * len(xs)
