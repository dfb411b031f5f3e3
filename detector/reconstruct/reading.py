"""The music step: a page's structure -> its score.

`read_score` reads the one typed result of the structure step (`structure.py`): each staff
is read left to right (`staff_reading.py`), then staves are grouped into systems and parts
(`systems.py`); the time signature is the first one written, or the most common measure
length when none is; a whole rest alone in a measure fills it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import replace
from fractions import Fraction
from typing import Optional, Sequence

from detector.reconstruct.music import AttributeChange, Part, Score, StaffMusic
from detector.reconstruct.staff_reading import read_staves
from detector.reconstruct.structure import StructureResult
from detector.reconstruct.systems import group_parts
from detector.reconstruct.ties import read_ties


def read_score(structure: StructureResult) -> Score:
    """The page's music, read from its structure (staves, placed notes, stems, ink) with the
    rules the structure was built with (``structure.rules``)."""
    music, parts = _read_parts(structure)
    opening_keys = vote_key_signatures(parts)
    if opening_keys:  # read those staves again with the key their part and system agree on
        read_as = {k: music[k].fifths for k in opening_keys}
        music, parts = _read_parts(structure, opening_keys)
        for k, fifths in read_as.items():
            music[k].key_read = fifths  # the report says so (doubts.clef_key_doubts)
    vote_clef_octaves(parts)
    time = opening_time_signature(parts)
    inferred = time is None
    if inferred:
        time = infer_time_signature(music)
    _fill_measure_rests(music, time)
    return Score(parts=parts, staves=music, time=time, time_inferred=inferred)


def _read_parts(structure: StructureResult,
                opening_keys: Optional[dict[int, int]] = None) -> tuple[list[StaffMusic], list[Part]]:
    """Every staff read (with its ties), then grouped into systems and parts."""
    music = read_staves(structure, opening_keys)
    names = [s.class_name for s in structure.symbols]
    for k, staff_music in enumerate(music):
        read_ties(staff_music, [structure.ink_boxes[i] for i, name in enumerate(names)
                                if name == "tie" and structure.staff_of[i] == k])
    return music, group_parts(structure.ink, music, names, structure.ink_boxes, structure.rules)


def vote_key_signatures(parts: Sequence[Part]) -> dict[int, int]:
    """Staff index -> the key signature its opening should have been read as, where the
    part's other systems and its own system outvote what was read.

    Why: a key signature missed by one accidental (the README page's double bass read 2 flats
    in one system and 3 in the next) spells every note of its staff wrong. All staves of a
    system share a key, up to a transposing part's constant offset; so each staff's offset from
    its system's most common key is compared with the offsets its part shows in its other
    systems, and the offset most systems show wins (a tie goes to no offset: transposing parts
    are the rarer). A key change at a system start moves every staff together and changes no
    offset; a page of one system, or a part whose systems all agree, is never changed.
    """
    system_count = max((len(p.systems) for p in parts), default=0)
    majority: list[int] = []
    for k in range(system_count):
        keys = Counter(s.fifths for p in parts if k < len(p.systems) for s in p.systems[k])
        majority.append(keys.most_common(1)[0][0] if keys else 0)
    corrections: dict[int, int] = {}
    for part in parts:
        for slot in range(part.staff_count):
            staves = [(k, group[slot]) for k, group in enumerate(part.systems) if slot < len(group)]
            offsets = Counter(s.fifths - majority[k] for k, s in staves)
            if len(staves) < 2 or len(offsets) < 2:
                continue
            support = {offset: count + (0.5 if offset == 0 else 0) for offset, count in offsets.items()}
            best = max(support, key=support.get)
            for k, staff in staves:
                if staff.fifths - majority[k] != best and support[best] > support[staff.fifths - majority[k]]:
                    corrections[staff.index] = majority[k] + best
    return corrections


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


def opening_time_signature(parts: Sequence[Part]) -> Optional[tuple[int, int]]:
    """The time signature written at the start of the page's first system, if any.

    A page that continues a piece often shows no time signature at its start; one met further
    down (a change of metre in the last system) does not hold for the bars above it, which
    then get the metre their lengths show (`infer_time_signature`).
    """
    for part in parts:
        for staff in (part.systems[0] if part.systems else []):
            for item in (staff.measures[0].items if staff.measures else []):
                if not isinstance(item, AttributeChange):
                    break  # the first note: what follows is no longer the opening
                if item.time:
                    return item.time
    return None


def vote_clef_octaves(parts: Sequence[Part]) -> None:
    """A guessed clef octave that the part's other systems outvote is corrected (in place).

    Without a clef8/clef15 mark, an octave clef is told from a plain one by how far its box
    reaches, and a detector box a half space too long turns one staff an octave off. A part
    keeps its clef from system to system, so when most of its systems read the same clef at
    another octave, that staff's notes are moved by the difference. A clef whose octave a
    clef8/clef15 mark shows outweighs any number of guesses (the detector misses such a small
    "8" more often than it invents one). Staves with a clef change inside them, and ties, are
    left alone.
    """
    for part in parts:
        for slot in range(part.staff_count):
            staves = [group[slot] for group in part.systems if slot < len(group)]
            votes = Counter()
            for s in staves:
                weight = 1 if s.clef.octave_guessed else len(staves)  # a mark outweighs every guess
                votes[(s.clef.class_name, s.clef.octave_change)] += weight
            for staff in staves:
                clef = staff.clef
                changes = [c for m in staff.measures for c in m.items
                           if isinstance(c, AttributeChange) and c.clef]
                if not clef.octave_guessed or len(changes) > 1:
                    continue
                best = max((oc for (name, oc) in votes if name == clef.class_name),
                           key=lambda oc: votes[(clef.class_name, oc)])
                if votes[(clef.class_name, best)] <= votes[(clef.class_name, clef.octave_change)]:
                    continue
                _move_octaves(staff, best - clef.octave_change)
                staff.clef = replace(clef, octave_change=best)
                for change in changes:
                    change.clef = staff.clef


def _move_octaves(staff: StaffMusic, octaves: int) -> None:
    """Every pitch of the staff moved by `octaves` (the clef in force was read at the wrong octave)."""
    for measure in staff.measures:
        for event in measure.events:
            event.pitches = [replace(p, octave=p.octave + octaves) for p in event.pitches]


def _fill_measure_rests(staves: Sequence[StaffMusic], time: Optional[tuple[int, int]]) -> None:
    """A whole rest alone in its measure (or in its voice) lasts the whole measure, whatever the meter."""
    length = Fraction(4 * time[0], time[1]) if time else Fraction(4)
    for staff in staves:
        for measure in staff.measures:
            for voice in measure.voices():
                events = [e for e in measure.events if not e.grace and e.voice == voice]
                if len(events) == 1 and events[0].measure_rest:
                    events[0].duration = length
