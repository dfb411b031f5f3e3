"""The score model: parts, staves, measures, notes, rests and chords, and the page -> score step.

`build_score` reads a page's symbols (detected + reconstructed: noteheads, stems, rests,
clefs, key and time signatures, flags, dots, accidentals) against its staves and ink:
each staff is read left to right (`staff_reading.py`), then staves are grouped into systems
and parts (`systems.py`). One voice per staff; a grand staff joined by a brace is one
two-staff part.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional, Sequence

import numpy as np

from detector.reconstruct.pitch import Clef, Pitch


@dataclass
class NoteEvent:
    """One rhythmic event of a staff: a note, a chord (several pitches) or a rest."""

    x: float  # page x used for ordering (stem x of a chord, centre of a rest)
    duration: Fraction  # in quarters, dots included (0 for grace notes)
    base: Fraction  # undotted value in quarters (sets the MusicXML <type>)
    dots: int = 0
    pitches: list[Pitch] = field(default_factory=list)  # empty for a rest; chord low -> high
    accidentals: list[Optional[int]] = field(default_factory=list)  # written, per pitch
    head_ids: list[int] = field(default_factory=list)  # symbol indices of the noteheads
    head_boxes: list[np.ndarray] = field(default_factory=list)  # [4] per pitch
    head_durations: list[Fraction] = field(default_factory=list)  # per pitch: a merged second
    # voice keeps its own value here while the event takes the shortest (one voice per staff)
    symbol_id: Optional[int] = None  # symbol index of a rest
    box: Optional[np.ndarray] = None  # [4] of a rest
    stem_up: Optional[bool] = None
    beams: int = 0  # beams on the stem (0 = flagged or unbeamed)
    beam_tags: list[str] = field(default_factory=list)  # per level: begin/continue/end/...
    tip: Optional[tuple[float, float]] = None  # stem tip (x, y)
    grace: bool = False
    measure_rest: bool = False
    tuplet: Optional[tuple[int, int]] = None  # (actual, normal) notes: (3, 2) for a triplet

    @property
    def is_rest(self) -> bool:
        return not self.pitches


@dataclass
class AttributeChange:
    """A clef, key or time signature met while reading a staff (None = unchanged)."""

    x: float
    clef: Optional[Clef] = None
    fifths: Optional[int] = None
    time: Optional[tuple[int, int]] = None


@dataclass
class Measure:
    """A measure of one staff: events and attribute changes in reading order."""

    items: list = field(default_factory=list)  # NoteEvent | AttributeChange

    @property
    def events(self) -> list[NoteEvent]:
        return [i for i in self.items if isinstance(i, NoteEvent)]

    def duration(self) -> Fraction:
        """Sum of the events' durations (grace notes count 0)."""
        return sum((e.duration for e in self.events), Fraction(0))


@dataclass
class StaffMusic:
    """The music read from one staff of the page."""

    index: int  # page staff index, top to bottom
    staff: object  # the `staff.Staff` it was read from
    measures: list[Measure] = field(default_factory=list)
    barlines: list[float] = field(default_factory=list)  # page x of each barline
    clef: Clef = field(default_factory=lambda: Clef("clefG"))  # clef in force at the start
    fifths: int = 0  # key in force at the start


@dataclass
class Part:
    """One instrument: its staves (1, or 2 for a grand staff) in every system of the page."""

    id: str
    staff_count: int
    systems: list[list[StaffMusic]] = field(default_factory=list)  # [system][staff in part]

    def measure_rows(self) -> list[list[Measure]]:
        """All measures in order: one row per measure, one Measure per staff of the part.

        A staff with fewer measures than its partner in the same system gets empty measures.
        """
        rows = []
        for staves in self.systems:
            count = max(len(s.measures) for s in staves)
            for k in range(count):
                rows.append([s.measures[k] if k < len(s.measures) else Measure() for s in staves])
        return rows


@dataclass
class Score:
    """The page's music."""

    parts: list[Part]
    staves: list[StaffMusic]  # page order
    time: Optional[tuple[int, int]] = None  # first time signature (read or inferred)
    time_inferred: bool = False


def infer_time_signature(staves: Sequence[StaffMusic]) -> Optional[tuple[int, int]]:
    """The most common measure length on the page as a time signature (3 quarters -> 3/4)."""
    lengths = Counter(m.duration() for s in staves for m in s.measures
                      if m.events and not any(e.measure_rest for e in m.events))
    if not lengths:
        return None
    length = lengths.most_common(1)[0][0]
    for denominator in (4, 8, 16):
        beats = length * denominator / 4
        if beats.denominator == 1 and beats > 0:
            return int(beats), denominator
    return None


def build_score(gray: np.ndarray, staves: Sequence, class_names: Sequence[str],
                boxes: np.ndarray) -> Score:
    """Read the page's music.

    Args:
        gray: the page, [H, W] uint8, ink dark.
        staves: `Staff` objects (staff.py contract), any order.
        class_names: canonical DSv2 class per symbol, detected and reconstructed (stems).
        boxes: [N, 4] float page boxes of those symbols.
    """
    from detector.reconstruct.staff_reading import read_staves
    from detector.reconstruct.systems import group_parts

    ordered = sorted(staves, key=lambda s: float(np.mean(s.line_ys[2])))
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    music = read_staves(gray, ordered, list(class_names), boxes)
    parts = group_parts(gray, music, list(class_names), boxes)
    time = next((c.time for s in music for m in s.measures for c in m.items
                 if isinstance(c, AttributeChange) and c.time), None)
    inferred = time is None
    if inferred:
        time = infer_time_signature(music)
    _fill_measure_rests(music, time)
    return Score(parts=parts, staves=music, time=time, time_inferred=inferred)


def _fill_measure_rests(staves: Sequence[StaffMusic], time: Optional[tuple[int, int]]) -> None:
    """A whole rest alone in its measure lasts the whole measure, whatever the meter."""
    length = Fraction(4 * time[0], time[1]) if time else Fraction(4)
    for staff in staves:
        for measure in staff.measures:
            events = [e for e in measure.events if not e.grace]
            if len(events) == 1 and events[0].measure_rest:
                events[0].duration = length
