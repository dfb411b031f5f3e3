"""The music step: a page's structure -> its score.

`read_score` reads the one typed result of the structure step (`structure.py`): each staff
is read left to right (`staff_reading.py`), then staves are grouped into systems and parts
(`systems.py`); the time signature is the first one written, or the most common measure
length when none is; a whole rest alone in a measure fills it.
"""
from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import Optional, Sequence

from detector.reconstruct.music import AttributeChange, Score, StaffMusic
from detector.reconstruct.staff_reading import read_staves
from detector.reconstruct.structure import StructureResult
from detector.reconstruct.systems import group_parts


def read_score(structure: StructureResult) -> Score:
    """The page's music, read from its structure (staves, placed notes, stems, ink)."""
    music = read_staves(structure)
    names = [s.class_name for s in structure.symbols]
    parts = group_parts(structure.ink, music, names, structure.ink_boxes)
    time = next((c.time for s in music for m in s.measures for c in m.items
                 if isinstance(c, AttributeChange) and c.time), None)
    inferred = time is None
    if inferred:
        time = infer_time_signature(music)
    _fill_measure_rests(music, time)
    return Score(parts=parts, staves=music, time=time, time_inferred=inferred)


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


def _fill_measure_rests(staves: Sequence[StaffMusic], time: Optional[tuple[int, int]]) -> None:
    """A whole rest alone in its measure (or in its voice) lasts the whole measure, whatever the meter."""
    length = Fraction(4 * time[0], time[1]) if time else Fraction(4)
    for staff in staves:
        for measure in staff.measures:
            for voice in measure.voices():
                events = [e for e in measure.events if not e.grace and e.voice == voice]
                if len(events) == 1 and events[0].measure_rest:
                    events[0].duration = length
