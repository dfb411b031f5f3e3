"""MusicXML 4.0 (partwise) from the score model, written with xml.etree.ElementTree.

One <part> per Part; a grand-staff part has <staves>2</staves>, its second staff's notes
follow a <backup> of the first staff's measure duration. Durations are integers in
<divisions> per quarter, the least common denominator of every duration on the page.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from fractions import Fraction
from pathlib import Path
from typing import Optional

from detector.reconstruct.music import AttributeChange, Measure, NoteEvent, Part, Score
from detector.reconstruct.pitch import ACCIDENTAL_NAME, Clef
from detector.reconstruct.rhythm import type_name

DOCTYPE = ('<!DOCTYPE score-partwise PUBLIC "-//Recordare//DTD MusicXML 4.0 Partwise//EN" '
           '"http://www.musicxml.org/dtds/partwise.dtd">')


def divisions_of(score: Score) -> int:
    """Divisions per quarter note that make every duration on the page an integer."""
    result = 1
    for staff in score.staves:
        for measure in staff.measures:
            for event in measure.events:
                result = math.lcm(result, Fraction(event.duration).denominator)
    return result


def _sub(parent: ET.Element, tag: str, text: Optional[object] = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrib)
    if text is not None:
        element.text = str(text)
    return element


def _clef_element(parent: ET.Element, clef: Clef, number: Optional[int]) -> None:
    element = _sub(parent, "clef", **({"number": str(number)} if number else {}))
    _sub(element, "sign", clef.sign)
    if clef.sign != "percussion":
        _sub(element, "line", clef.line)
    if clef.octave_change:
        _sub(element, "clef-octave-change", clef.octave_change)


def _time_element(parent: ET.Element, time: tuple[int, int], hidden: bool) -> None:
    element = _sub(parent, "time", **({"print-object": "no"} if hidden else {}))
    _sub(element, "beats", time[0])
    _sub(element, "beat-type", time[1])


def voice_number(staff_number: int, voice: int) -> int:
    """MusicXML voice of a staff's voice: 1-4 on the first staff, 5-8 on the second (as
    MuseScore and Finale number them), so no two staves of a part share a voice."""
    return 4 * (staff_number - 1) + voice


def _note_elements(parent: ET.Element, event: NoteEvent, divisions: int, staff_number: Optional[int],
                   voice: int = 1) -> None:
    """<note> elements of one event: one per chord member, <chord/> on all but the first."""
    duration = int(event.duration * divisions)
    members = event.pitches or [None]
    for k, pitch in enumerate(members):
        note = _sub(parent, "note")
        if event.grace:
            _sub(note, "grace")
        if k > 0:
            _sub(note, "chord")
        if pitch is None:
            _sub(note, "rest", **({"measure": "yes"} if event.measure_rest else {}))
        else:
            element = _sub(note, "pitch")
            _sub(element, "step", pitch.step)
            if pitch.alter:
                _sub(element, "alter", pitch.alter)
            _sub(element, "octave", pitch.octave)
        if not event.grace:
            _sub(note, "duration", duration)
        ties = sorted(event.ties.get(event.head_ids[k], ())) if pitch is not None else []
        for kind in reversed(ties):  # "stop" before "start", as MusicXML orders them
            _sub(note, "tie", type=kind)
        _sub(note, "voice", voice)
        if not event.measure_rest:
            _sub(note, "type", type_name(event.base))
            for _ in range(event.dots):
                _sub(note, "dot")
        if pitch is not None and event.accidentals[k] is not None:
            _sub(note, "accidental", ACCIDENTAL_NAME[event.accidentals[k]])
        if event.tuplet:
            modification = _sub(note, "time-modification")
            _sub(modification, "actual-notes", event.tuplet[0])
            _sub(modification, "normal-notes", event.tuplet[1])
        if pitch is not None and event.stem_up is not None:
            _sub(note, "stem", "up" if event.stem_up else "down")
        if staff_number:
            _sub(note, "staff", staff_number)
        if k == 0:
            for level, tag in enumerate(event.beam_tags, start=1):
                _sub(note, "beam", tag, number=str(level))
        if ties:
            notations = _sub(note, "notations")
            for kind in reversed(ties):
                _sub(notations, "tied", type=kind)


def _write_measure(part_el: ET.Element, number: int, row: list[Measure], part: Part, state: dict,
                   divisions: int, score: Score) -> None:
    """One <measure>: attributes (first measure, then changes), then each staff's notes."""
    measure_el = _sub(part_el, "measure", number=str(number + score.first_measure - 1))
    two = part.staff_count > 1
    if number == 1:
        attributes = _sub(measure_el, "attributes")
        _sub(attributes, "divisions", divisions)
        key = _sub(attributes, "key")
        _sub(key, "fifths", state["fifths"])
        if score.time:
            _time_element(attributes, score.time, hidden=score.time_inferred)
        if two:
            _sub(attributes, "staves", part.staff_count)
        for s, clef in enumerate(state["clefs"], start=1):
            _clef_element(attributes, clef, s if two else None)
    position = 0  # divisions from the measure's start where the next <note> goes
    for s, measure in enumerate(row, start=1):
        for k, voice in enumerate(measure.voices()):
            if position:  # back to the measure's start for the next voice or staff
                _sub(_sub(measure_el, "backup"), "duration", position)
                position = 0
            for item in measure.items:
                if isinstance(item, AttributeChange):
                    if k == 0:
                        _write_change(measure_el, item, s, two, state)
                elif item.voice == voice:
                    _note_elements(measure_el, item, divisions, s if two else None,
                                   voice_number(s, voice))
                    position += 0 if item.grace else int(item.duration * divisions)


def _write_change(measure_el: ET.Element, change: AttributeChange, staff_number: int, two: bool,
                  state: dict) -> None:
    """An <attributes> for a clef/key/time that differs from what is in force."""
    new_clef = change.clef and change.clef != state["clefs"][staff_number - 1]
    new_key = change.fifths is not None and change.fifths != state["fifths"] and staff_number == 1
    new_time = change.time and change.time != state["time"]
    if not (new_clef or new_key or new_time):
        return
    attributes = _sub(measure_el, "attributes")
    if new_key:
        state["fifths"] = change.fifths
        _sub(_sub(attributes, "key"), "fifths", change.fifths)
    if new_time:
        state["time"] = change.time
        _time_element(attributes, change.time, hidden=False)
    if new_clef:
        state["clefs"][staff_number - 1] = change.clef
        _clef_element(attributes, change.clef, staff_number if two else None)


def system_breaks(part: Part) -> dict[int, str]:
    """Measure number -> "system" or "page" for the first measure of every system but the first
    (a page break when ``part.system_pages`` says the system starts another page)."""
    breaks, number = {}, 1
    pages = part.system_pages or [0] * len(part.systems)
    for k, staves in enumerate(part.systems):
        if k and staves:
            breaks.setdefault(number, "page" if pages[k] != pages[k - 1] else "system")
        number += max((len(s.measures) for s in staves), default=0)
    return breaks


def score_to_musicxml(score: Score, title: str = "Recognised score") -> ET.ElementTree:
    """The score as a MusicXML 4.0 partwise tree."""
    root = ET.Element("score-partwise", version="4.0")
    _sub(_sub(root, "work"), "work-title", title)
    part_list = _sub(root, "part-list")
    # the schema asks for at least one part: a page with no staff (blank, text only) gets one
    # empty part of one empty measure rather than a file no reader accepts
    parts = score.parts or [Part(id="P1", staff_count=1)]
    for part in parts:
        score_part = _sub(part_list, "score-part", id=part.id)
        _sub(score_part, "part-name", part.name or part.abbreviation or f"Part {part.id[1:]}")
        if part.abbreviation:
            _sub(score_part, "part-abbreviation", part.abbreviation)
    divisions = divisions_of(score)
    for part in parts:
        part_el = _sub(root, "part", id=part.id)
        first = part.systems[0] if part.systems else []
        state = {"fifths": first[0].fifths if first else 0, "time": score.time,
                 "clefs": [s.clef for s in first] or [Clef("clefG")]}
        rows = part.measure_rows()
        breaks = system_breaks(part)
        for number, row in enumerate(rows or [[Measure()] * part.staff_count], start=1):
            _write_measure(part_el, number, row, part, state, divisions, score)
            if number in breaks:  # <print> leads the measure: before its attributes and notes
                part_el[-1].insert(0, ET.Element("print", {f"new-{breaks[number]}": "yes"}))
    ET.indent(root)
    return ET.ElementTree(root)


def write_musicxml(score: Score, path: str | Path, title: str = "Recognised score") -> Path:
    """Write the score to `path` (UTF-8, XML declaration and the MusicXML 4.0 DOCTYPE)."""
    path = Path(path)
    body = ET.tostring(score_to_musicxml(score, title).getroot(), encoding="unicode")
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n{DOCTYPE}\n{body}\n', encoding="utf-8")
    return path
