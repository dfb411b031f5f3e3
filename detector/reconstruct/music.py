"""The score model: parts, staves, measures, voices, notes, rests and chords.

Plain data, filled by `reading.py` (page structure -> score) and written by `musicxml.py`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

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
    voice: int = 1  # MusicXML voice within its staff (1 = the only or the upper voice)
    ties: dict[int, set[str]] = field(default_factory=dict)  # head symbol index -> {"start", "stop"}

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

    def voices(self) -> list[int]:
        """The voice numbers present, in order."""
        return sorted({e.voice for e in self.events}) or [1]

    def duration(self) -> Fraction:
        """Length of the measure: the longest voice's sum of durations (grace notes count 0)."""
        lengths = [sum((e.duration for e in self.events if e.voice == v), Fraction(0)) for v in self.voices()]
        return max(lengths, default=Fraction(0))

    def timed_events(self) -> list[tuple["NoteEvent", Fraction]]:
        """Each event with its onset in quarters from the start of the measure, in its own voice."""
        onsets: dict[int, Fraction] = {}
        timed = []
        for event in self.events:
            onset = onsets.get(event.voice, Fraction(0))
            timed.append((event, onset))
            onsets[event.voice] = onset + event.duration
        return timed


@dataclass
class StaffMusic:
    """The music read from one staff of the page."""

    index: int  # page staff index, top to bottom
    staff: object  # the `staff.Staff` it was read from
    measures: list[Measure] = field(default_factory=list)
    barlines: list[float] = field(default_factory=list)  # page x of each barline
    clef: Clef = field(default_factory=lambda: Clef("clefG"))  # clef in force at the start
    fifths: int = 0  # key in force at the start
    label: str = ""  # the part name printed beside it (its part's first staff only; margin_text.py)
    key_read: Optional[int] = None  # the opening key its symbols showed, when its part and system outvoted it


@dataclass
class Part:
    """One instrument: its staves (1, or 2 for a grand staff) in every system of the page."""

    id: str
    staff_count: int
    systems: list[list[StaffMusic]] = field(default_factory=list)  # [system][staff in part]
    name: str = ""  # as printed beside the first system ('' = not printed or not read)
    abbreviation: str = ""  # as printed beside later systems
    # page number of each system, for page breaks (empty: one page); whole_score.py fills it
    system_pages: list[int] = field(default_factory=list)

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
    first_measure: int = 1  # number of the page's first measure (printed bar numbers: margin_text.py)
