"""Part names and bar numbers, read from where a score prints them.

Why here and not in the detector: DeepScores has no class for words, and what these words
mean follows from where they stand relative to the staves that reading found. Engraving puts
an instrument's name (first system) or its abbreviation (later systems) in the left margin,
level with the middle of the part's staves; it puts bar numbers above the top staff of a
system, at the start of a measure (at every system start, or every 5 or 10 bars).

So: for each system, OCR (``text_ocr.py``) reads the strip left of the staves and the band
above the top staff. A margin line goes to the part whose staves' middle it is nearest
(within ``NAME_REACH_SP`` spaces). A band line that is only digits is a bar number; its
measure on the page is counted from the barlines left of it, and each number votes for the
page's first bar number (number - measures before it). A number above a system's start
(left of its first barline) outvotes the rest: tuplet 3s and fingerings are never there; a
number inside a system counts only near a barline, and only when another agrees.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from detector.reconstruct.music import Part, Score, StaffMusic
from detector.reconstruct.text_ocr import TextLine, ocr_unavailable_reason, read_text_lines

#: A margin line at most this many staff spaces (vertically) from a part's middle names it.
NAME_REACH_SP = 3.0
#: The band searched for bar numbers: from this many spaces above the top line ...
NUMBER_BAND_TOP_SP = 6.0
#: ... down to this many above it (leaves out the staff's own ink).
NUMBER_BAND_BOTTOM_SP = 0.3
#: A number centred within this many spaces right of the staff start stands above the system's start.
SYSTEM_START_SP = 5.0
#: The weight of a number above a system's start against one inside the system.
START_VOTE = 3
#: An in-system number farther than this many spaces from every barline is not a bar number
#: (fingerings and tuplet numbers stand over notes; bar numbers over a measure's start).
BARLINE_REACH_SP = 2.5
BAR_NUMBER = re.compile(r"^\(?(\d{1,4})\)?[.,:;\u3001]?$")


@dataclass
class MarginText:
    """What the page's margins say: per part, the name beside it in each system, and the bar
    numbers found with the page's first bar number they imply."""

    names: list[list[str]] = field(default_factory=list)  # [part][system] text ('' = none)
    # (number, system, measures before it on the page, above a system start)
    numbers: list[tuple[int, int, int, bool]] = field(default_factory=list)
    first_measure: Optional[int] = None


def systems_of(score: Score) -> list[list[StaffMusic]]:
    """The page's systems top to bottom, each the staves of every part in it (page order)."""
    count = max((len(p.systems) for p in score.parts), default=0)
    systems = []
    for k in range(count):
        staves = [s for p in score.parts if k < len(p.systems) for s in p.systems[k]]
        systems.append(sorted(staves, key=lambda s: s.index))
    return systems


def _left(music: StaffMusic) -> float:
    return float(music.staff.xs[0])


def _middle_y(staves: list[StaffMusic]) -> float:
    top, bottom = staves[0].staff, staves[-1].staff
    return float((np.median(top.line_ys[0]) + np.median(bottom.line_ys[4])) / 2)


def measure_index(music: StaffMusic, x: float, space: float) -> Optional[int]:
    """Which of the staff's measures (0 = the system's first) a bar number centred at page x
    stands over: the one starting at the barline within ``BARLINE_REACH_SP`` spaces of x (bar
    numbers are centred on the barline or just after it); None when no barline is that near.
    A barline at the very start of the staff is not counted: it opens measure 0.
    """
    bars = np.array(sorted(b for b in music.barlines if b > _left(music) + 2 * space))
    if bars.size == 0 or np.abs(bars - x).min() > BARLINE_REACH_SP * space:
        return None
    return int(np.searchsorted(bars, x + BARLINE_REACH_SP * space))


def read_margin_text(gray: np.ndarray, score: Score) -> MarginText:
    """OCR the margins of every system of ``score`` read from ``gray`` [H, W] uint8 (see module doc)."""
    result = MarginText(names=[[] for _ in score.parts])
    measures_before = 0
    for k, system in enumerate(systems_of(score)):
        space = float(np.median([s.staff.staff_space_px for s in system]))
        left = min(_left(s) for s in system)
        top_y = float(np.median(system[0].staff.line_ys[0]))
        bottom_y = float(np.median(system[-1].staff.line_ys[4]))
        strip = (0, top_y - 2 * space, left - 0.5 * space, bottom_y + 2 * space)  # left of the staves
        margin = read_text_lines(gray, strip, space)
        for p, part in enumerate(score.parts):
            staves = part.systems[k] if k < len(part.systems) else []
            result.names[p].append(_name_beside(margin, staves, space))
        right = max(float(s.staff.xs[-1]) for s in system)
        band = read_text_lines(gray, (left - 3 * space, top_y - NUMBER_BAND_TOP_SP * space, right,
                                      top_y - NUMBER_BAND_BOTTOM_SP * space), space)
        for line in band:
            match = BAR_NUMBER.match(line.text.replace(" ", ""))
            if not match:
                continue
            centre = (line.box[0] + line.box[2]) / 2
            at_start = centre < left + SYSTEM_START_SP * space
            index = 0 if at_start else measure_index(system[0], centre, space)
            if index is None:
                continue
            result.numbers.append((int(match.group(1)), k, measures_before + index, at_start))
        measures_before += max((len(s.measures) for s in system), default=0)
    result.first_measure = first_measure_of(result.numbers)
    return result


def _name_beside(margin: list[TextLine], staves: list[StaffMusic], space: float) -> str:
    """The margin line nearest the middle of ``staves`` (a part in one system), '' if none is near."""
    if not staves:
        return ""
    middle = _middle_y(staves)
    top, bottom = float(np.median(staves[0].staff.line_ys[0])), float(np.median(staves[-1].staff.line_ys[4]))
    half_height = (bottom - top) / 2
    best, best_distance = "", NAME_REACH_SP * space + half_height
    for line in margin:
        if not re.search(r"[A-Za-z]", line.text):
            continue  # a brace, a bracket or a stray digit, not a name
        distance = abs((line.box[1] + line.box[3]) / 2 - middle)
        if distance <= best_distance:
            best, best_distance = line.text, distance
    return best


def first_measure_of(numbers: list[tuple[int, int, int, bool]]) -> Optional[int]:
    """The page's first bar number most bar numbers agree on (see module doc), None if none.

    One number inside a system alone is not trusted (it may be a tuplet's 3 or a fingering).
    """
    votes: Counter = Counter()
    for number, _, measures_before, at_start in numbers:
        first = number - measures_before
        if first >= 0:
            votes[first] += START_VOTE if at_start else 1
    if not votes:
        return None
    first, weight = votes.most_common(1)[0]
    return first if weight >= 2 else None


def read_labels(gray: np.ndarray, score: Score) -> Optional[str]:
    """Read the page's margins and write what they say into ``score`` (``label_score``); returns
    why nothing could be read (no OCR engine), None when it was."""
    unread = ocr_unavailable_reason()
    if unread is None:
        label_score(score, read_margin_text(gray, score))
    return unread


def label_score(score: Score, margin: MarginText) -> None:
    """Write what the margins say into the score: each part's text on the first staff of each
    of its systems (``StaffMusic.label``), the parts' names from those, the first bar number."""
    for part, names in zip(score.parts, margin.names):
        for staves, name in zip(part.systems, names):
            if staves:
                staves[0].label = name
    name_parts(score.parts)
    if margin.first_measure is not None:
        score.first_measure = margin.first_measure


def name_parts(parts: list[Part]) -> None:
    """Each part's name is the text beside its first system, its abbreviation the first other
    text beside a later one (a part whose first system shows none keeps only the abbreviation).
    Works on a page's parts and on a whole score's (whole_score.py), whose systems span pages."""
    for part in parts:
        labels = [staves[0].label if staves else "" for staves in part.systems]
        part.name = labels[0] if labels else ""
        later = [text for text in labels[1:] if text and text != part.name]
        part.abbreviation = later[0] if later else ""
