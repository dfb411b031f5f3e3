"""Rhythm: durations from notehead type, stems, flags, beams and augmentation dots; chords.

Durations are exact fractions of a quarter note. A black notehead is a quarter, halved once
per flag or beam on its stem; each augmentation dot adds half of the previous value.
Noteheads that share a stem are one chord.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

import numpy as np

from detector.reconstruct.beams import count_beams
from detector.reconstruct.rules import EngravingRules

#: MusicXML <type> by number of flags/beams on a black note (0 = quarter).
TYPE_BY_FLAGS: tuple[str, ...] = ("quarter", "eighth", "16th", "32nd", "64th", "128th", "256th")

#: Duration in quarters -> MusicXML type, for undotted values.
TYPE_BY_QUARTERS: dict[Fraction, str] = {
    Fraction(8): "breve", Fraction(4): "whole", Fraction(2): "half",
    **{Fraction(1, 2 ** k): t for k, t in enumerate(TYPE_BY_FLAGS)},
}

#: Notehead family -> (undotted duration in quarters) before flags and beams.
NOTEHEAD_QUARTERS: dict[str, Fraction] = {
    "noteheadBlack": Fraction(1), "noteheadHalf": Fraction(2),
    "noteheadWhole": Fraction(4), "noteheadDoubleWhole": Fraction(8),
}

#: Rest class -> duration in quarters.
REST_QUARTERS: dict[str, Fraction] = {
    "restDoubleWhole": Fraction(8), "restWhole": Fraction(4), "restHalf": Fraction(2),
    "restQuarter": Fraction(1), "rest8th": Fraction(1, 2), "rest16th": Fraction(1, 4),
    "rest32nd": Fraction(1, 8), "rest64th": Fraction(1, 16), "rest128th": Fraction(1, 32),
}

#: Flag class (without Up/Down/Small) -> number of flags.
FLAG_COUNT: dict[str, int] = {"flag8th": 1, "flag16th": 2, "flag32nd": 3, "flag64th": 4,
                              "flag128th": 5}


def notehead_family(class_name: str) -> Optional[str]:
    """'noteheadBlackOnLineSmall' -> 'noteheadBlack'; None for other classes."""
    for family in NOTEHEAD_QUARTERS:
        if class_name.startswith(family):
            return family
    return None


def flag_count(class_name: str) -> int:
    """'flag16thDown' -> 2; 0 for other classes."""
    for prefix, n in FLAG_COUNT.items():
        if class_name.startswith(prefix):
            return n
    return 0


def dotted(base: Fraction, dots: int) -> Fraction:
    """A value with `dots` augmentation dots: base * (2 - 1/2**dots)."""
    return base * (2 - Fraction(1, 2 ** dots))


def type_name(base: Fraction) -> str:
    """MusicXML <type> of an undotted value (falls back to the nearest known value)."""
    if base in TYPE_BY_QUARTERS:
        return TYPE_BY_QUARTERS[base]
    nearest = min(TYPE_BY_QUARTERS, key=lambda q: abs(float(q) - float(base)))
    return TYPE_BY_QUARTERS[nearest]


@dataclass
class StemGroup:
    """A stem and the noteheads on it (one chord), as the structure step found them, with the
    flags and beams read at its tip. Tip is the end away from the noteheads."""

    box: np.ndarray  # [4] x0, y0, x1, y1 in page pixels
    heads: list[int] = field(default_factory=list)  # notehead indices (into the head list)
    up: bool = True  # noteheads at the bottom, tip at the top
    flags: int = 0
    beams: int = 0

    @property
    def x(self) -> float:
        return float(self.box[0] + self.box[2]) / 2.0

    @property
    def tip_y(self) -> float:
        return float(self.box[1] if self.up else self.box[3])


def attach_flags(groups: list[StemGroup], flag_boxes: np.ndarray, flag_counts: list[int],
                 ss: float, rules: EngravingRules) -> None:
    """Set each stem's flag count from the flag glyph that starts at its tip (in place)."""
    margin, weight = rules.flag_tip_margin_sp * ss, rules.flag_dy_weight
    for box, n in zip(flag_boxes, flag_counts):
        best, best_d = None, rules.flag_reach_sp * ss
        for g in groups:
            dx = box[0] - g.x  # flags hang to the right of the stem
            if not -rules.flag_stem_dx_sp * ss <= dx <= rules.flag_stem_dx_sp * ss:
                continue
            dy = min(abs(box[1] - g.tip_y), abs(box[3] - g.tip_y))
            if box[1] - margin <= g.tip_y <= box[3] + margin and abs(dx) + weight * dy < best_d:
                best, best_d = g, abs(dx) + weight * dy
        if best is not None:
            best.flags = max(best.flags, n)


def find_beams(groups: list[StemGroup], head_boxes: np.ndarray, ink: np.ndarray, ss: float,
               rules: EngravingRules) -> None:
    """Count the beams at the tip of every unflagged stem of a black notehead (in place)."""
    for g in groups:
        if g.flags:
            continue
        ys = [head_boxes[h][1] for h in g.heads] if g.up else [head_boxes[h][3] for h in g.heads]
        # stop half a space short of the nearest notehead so it is never read as a beam
        short = rules.beam_stop_before_head_sp * ss
        stop_y = (min(ys) - short) if g.up else (max(ys) + short)
        direction = 1 if g.up else -1
        g.beams = count_beams(ink, g.x, g.tip_y, direction, ss, stop_y=stop_y, rules=rules)


def assign_dots(owner_boxes: np.ndarray, dot_boxes: np.ndarray, ss: float,
                rules: EngravingRules) -> list[int]:
    """Augmentation dots per owner (notehead or rest): dots in a row to its right.

    Each dot goes to the nearest owner whose right edge lies within 2.5 ss to its left and
    whose centre lies within 1 ss vertically (a dot of a note on a line moves up a half
    space). owner_boxes: [N, 4], dot_boxes: [D, 4] -> list of N counts.
    """
    counts = [0] * len(owner_boxes)
    for dot in dot_boxes:
        dcy = (dot[1] + dot[3]) / 2.0
        best, best_d = None, None
        for i, box in enumerate(owner_boxes):
            gap = dot[0] - box[2]
            cy = (box[1] + box[3]) / 2.0
            if (not -rules.dot_overlap_sp * ss <= gap <= rules.dot_reach_sp * ss
                    or abs(dcy - cy) > rules.dot_rise_sp * ss):
                continue
            d = gap + rules.dot_dy_weight * abs(dcy - cy)
            if best_d is None or d < best_d:
                best, best_d = i, d
        if best is not None:
            counts[best] += 1
    return [min(c, rules.max_dots) for c in counts]
