"""Beams, found in the ink: the detector is not trained on them.

A beam is a thick dark band (about 0.5 staff space) that leaves a stem at its tip. Counting
the stack of such bands at the tip, in thin columns just beside the stem, gives the number of
beams that stem carries (1 = 8th, 2 = 16th, 3 = 32nd). Staff lines, slurs and ties are
thinner than the thickness threshold; a band must also continue sideways, which rules out
the dark blobs of noteheads and accidentals that merely sit next to a stem.
"""
from __future__ import annotations

import numpy as np

MIN_BEAM_THICKNESS_SS = 0.3  # beams are 0.5 ss thick, staff lines 0.13, slurs under 0.25
MAX_BEAM_THICKNESS_SS = 1.5  # thicker than two merged beams: a notehead or a dark blob
BEAM_SEARCH_SS = 3.6  # up to 4 beams (0.5 + 0.25 spacing each) from the tip
BEYOND_TIP_SS = 2.6  # some engravers end a stem at the inner beam: the others lie beyond it


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


def _bands_beside(ink: np.ndarray, x: float, tip_y: float, direction: int, ss: float) -> list[float]:
    """Centres (y) of beam-thick bands in the column at x, from the stem tip inwards.

    direction: +1 when the stem goes down from the tip to its notehead (an up-stem), -1 else.
    """
    lo, hi = (tip_y - BEYOND_TIP_SS * ss, tip_y + BEAM_SEARCH_SS * ss) if direction > 0 else (
        tip_y - BEAM_SEARCH_SS * ss, tip_y + BEYOND_TIP_SS * ss)
    values, top = _column(ink, x, lo, hi)
    centres = []
    for start, length in _dark_runs(values):
        if MIN_BEAM_THICKNESS_SS * ss <= length <= MAX_BEAM_THICKNESS_SS * ss:
            # two beams merged by blur count as two when the band is thick enough
            n = max(1, int(round(length / (0.75 * ss)))) if length > 0.9 * ss else 1
            centres.extend([top + start + length * (k + 0.5) / n for k in range(n)])
    return centres


def count_beams(ink: np.ndarray, stem_x: float, tip_y: float, direction: int, ss: float,
                stop_y: float | None = None) -> int:
    """How many beams leave the stem at (stem_x, tip_y).

    Looks at columns 0.45 and 0.9 staff space to each side of the stem; a band counts when it
    appears in both columns of one side at about the same height (a beam continues sideways,
    sloping by at most about 0.5 ss per space). `stop_y` bounds the search before the
    notehead so a notehead next to the stem is never read as a beam.
    """
    best = 0
    for side in (-1.0, 1.0):
        near = _bands_beside(ink, stem_x + side * 0.45 * ss, tip_y, direction, ss)
        far = _bands_beside(ink, stem_x + side * 0.9 * ss, tip_y, direction, ss)
        if stop_y is not None:
            near = [c for c in near if (c < stop_y if direction > 0 else c > stop_y)]
        matched = [c for c in near if any(abs(c - f) <= 0.45 * ss for f in far)]
        best = max(best, len(_stack_at_tip(matched, tip_y, ss)))
    return best


def _stack_at_tip(centres: list[float], tip_y: float, ss: float) -> list[float]:
    """The beams that touch the tip: the band nearest to it and its neighbours 0.75 ss apart.

    Bands farther on (a slur, an articulation, another staff's symbol) are not beams of this stem.
    """
    if not centres:
        return []
    centres = sorted(centres)
    start = min(range(len(centres)), key=lambda k: abs(centres[k] - tip_y))
    if abs(centres[start] - tip_y) > 1.0 * ss:
        return []
    lo = hi = start
    while lo > 0 and centres[lo] - centres[lo - 1] <= 1.1 * ss:
        lo -= 1
    while hi + 1 < len(centres) and centres[hi + 1] - centres[hi] <= 1.1 * ss:
        hi += 1
    return centres[lo:hi + 1]


def beam_connects(ink: np.ndarray, tip_a: tuple[float, float], tip_b: tuple[float, float],
                  ss: float, min_dark: float = 0.85) -> bool:
    """True when ink runs along the straight line between two stem tips (the outer beam).

    Each sample along the line may be matched within +-0.3 ss vertically, for the tips are
    found to a pixel or two and the beam is 0.5 ss thick.
    """
    (xa, ya), (xb, yb) = tip_a, tip_b
    if xb - xa < 1:
        return False
    h, w = ink.shape
    xs = np.arange(int(np.ceil(xa)) + 1, int(np.floor(xb)))
    if len(xs) == 0:
        return True
    ys = ya + (yb - ya) * (xs - xa) / (xb - xa)
    reach = max(1, int(round(0.3 * ss)))
    hits = 0
    for x, y in zip(xs, ys):
        y0, y1 = max(0, int(round(y)) - reach), min(h, int(round(y)) + reach + 1)
        if 0 <= x < w and y1 > y0 and ink[y0:y1, x].any():
            hits += 1
    return hits >= min_dark * len(xs)
