"""Rhythm: notehead type, flags, beams found in the ink, dots, rests, chords, tuplets, ties."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import music21
import numpy as np

from detector.reconstruct.beams import count_beams
from detector.reconstruct.binarize import binarize
from handmade import HEAD_W, SS, HandPage, triplet_bar
from musicxml_reading import divisions, music21_notes, score_file, xml_notes


def test_beams_are_counted_in_the_ink_beside_the_stem():
    # given drawn 8ths (one beam) and 16ths (two beams)
    page = HandPage()
    page.beamed([200, 250], [2, 3], [1, 1])
    page.beamed([320, 370], [2, 3], [2, 2])
    ink = binarize(page.gray)
    stems = [b for n, b in zip(page.names, page.boxes) if n == "stem"]
    # when the beams at each stem tip are counted, then 1, 1, 2, 2
    counts = [count_beams(ink, (b[0] + b[2]) / 2, b[1], +1, SS, stop_y=b[3] - SS) for b in stems]
    assert counts == [1, 1, 2, 2]


def test_a_plain_quarter_stem_has_no_beam():
    # given a quarter note's up-stem; the search stops half a space above its notehead
    page = HandPage()
    tip_x, tip_y = page.note(200, 2)
    head_top = page.y(2) - SS / 2
    assert count_beams(binarize(page.gray), tip_x, tip_y, +1, SS, stop_y=head_top - SS / 2) == 0


def test_beamed_eighth_and_sixteenth_groups(tmp_path):
    # given a 4/4 measure: two beamed 8ths, four beamed 16ths, then a half note
    page = HandPage()
    page.clef("clefG")
    page.time(115, 4, 4)
    page.beamed([170, 220], [0, 1], [1, 1])
    page.beamed([280, 330, 380, 430], [2, 3, 4, 3], [2, 2, 2, 2])
    page.note(500, 4, "Half", stem="down")
    page.barline(560)
    path = score_file(page, tmp_path)
    notes = xml_notes(path)
    per_quarter = divisions(path)
    # then durations, types and beam tags are exactly those of the drawing
    assert [n["duration"] / per_quarter for n in notes] == [0.5, 0.5, 0.25, 0.25, 0.25, 0.25, 2.0]
    assert [n["type"] for n in notes] == ["eighth", "eighth", "16th", "16th", "16th", "16th", "half"]
    assert [n["beams"] for n in notes] == [
        ["begin"], ["end"], ["begin", "begin"], ["continue", "continue"], ["continue", "continue"],
        ["end", "end"], []]
    assert music21_notes(path) == [("E4", 0.5), ("F4", 0.5), ("G4", 0.25), ("A4", 0.25), ("B4", 0.25),
                                   ("A4", 0.25), ("B4", 2.0)]


def test_dotted_eighth_and_sixteenth_get_a_hook(tmp_path):
    page = HandPage()
    page.clef("clefG")
    page.beamed([170, 230], [2, 2], [1, 2])
    page.dot(170 + 0.6 * SS + 8, 3)
    page.barline(290)
    notes = xml_notes(score_file(page, tmp_path))
    assert [(n["type"], n["dots"]) for n in notes] == [("eighth", 1), ("16th", 0)]
    assert [n["beams"] for n in notes] == [["begin"], ["end", "backward hook"]]


def test_chord_shares_one_stem(tmp_path):
    # given C4 E4 G4 on one up-stem
    page = HandPage()
    page.clef("clefG")
    page.note(200, -2, stem="up", stem_len=5.5 * SS)
    page.note(200, 0, stem=None)
    page.note(200, 2, stem=None)
    page.barline(260)
    notes = xml_notes(score_file(page, tmp_path))
    assert [(n["step"], n["octave"]) for n in notes] == [("C", 4), ("E", 4), ("G", 4)]
    assert [n["chord"] for n in notes] == [False, True, True]
    assert len({n["duration"] for n in notes}) == 1 and notes[0]["type"] == "quarter"


def test_dotted_half_note(tmp_path):
    page = HandPage()
    page.clef("clefG")
    page.time(115, 3, 4)
    page.note(200, 1, "Half")
    page.dot(200 + 0.6 * SS + 10, 1)
    page.barline(280)
    path = score_file(page, tmp_path)
    (note,) = xml_notes(path)
    assert (note["step"], note["octave"], note["type"], note["dots"]) == ("F", 4, "half", 1)
    assert note["duration"] == 3 * divisions(path)
    assert music21_notes(path) == [("F4", 3.0)]


def test_rests_by_class_and_a_whole_measure_rest(tmp_path):
    # given 3/4: | quarter rest, 8th rest, 8th note flagged, quarter | whole rest alone |
    page = HandPage()
    page.clef("clefG")
    page.time(115, 3, 4)
    page.symbol("restQuarter", 180, 4, w=0.9 * SS, h=2.8 * SS)
    page.symbol("rest8th", 240, 4, w=0.9 * SS, h=1.8 * SS)
    tip = page.note(300, 3)
    page.symbol("flag8thUp", tip[0] + 0.5 * SS, 3 + 7 - 2, w=SS, h=3 * SS)
    page.note(370, 3)
    page.barline(430)
    page.symbol("restWhole", 520, 6.5, w=1.2 * SS, h=0.5 * SS)
    page.barline(620)
    path = score_file(page, tmp_path)
    notes = xml_notes(path)
    per_quarter = divisions(path)
    assert [(n["rest"], n["duration"] / per_quarter) for n in notes] == [
        (True, 1.0), (True, 0.5), (False, 0.5), (False, 1.0), (True, 3.0)]
    assert notes[2]["type"] == "eighth"


def test_triplet_eighths_under_a_tuplet_number(tmp_path):
    path = score_file(triplet_bar(), tmp_path)
    durations = [d for _, d in music21_notes(path)]
    assert np.allclose(durations, [1 / 3, 1 / 3, 1 / 3, 1.0])


def test_a_bowing_mark_above_the_staff_is_not_a_whole_rest(tmp_path):
    # given a 4/4 bar of four quarters with a down-bow mark above the staff that a detector
    # boxed as a whole rest (a dark block a space above the top line)
    page = HandPage()
    page.clef("clefG")
    page.time(115, 4, 4)
    for k, position in enumerate([2, 3, 4, 5]):
        page.note(180 + 60 * k, position, stem="up" if position < 4 else "down")
    page.symbol("restWhole", 180, 10.6, w=1.2 * SS, h=0.7 * SS)
    page.gray[int(page.y(11.3)):int(page.y(10.0)), 168:192] = 0
    page.barline(430)
    # then the bar holds its four quarters and no rest
    notes = xml_notes(score_file(page, tmp_path))
    assert [n["rest"] for n in notes] == [False] * 4


def test_a_tie_joins_two_notes_of_the_same_pitch(tmp_path):
    # given two G4 quarters joined by a tie under them, then an A4 that a slur-like curve
    # from the second G reaches (another pitch: not a tie)
    page = HandPage()
    page.clef("clefG")
    for x, position in ((200, 2), (280, 2), (360, 3)):
        page.note(x, position, stem="up")
    below = page.y(2) + 0.9 * SS
    page.symbol("tie", 240, 2, w=80 - HEAD_W, h=0.6 * SS)
    page.boxes[-1][1], page.boxes[-1][3] = below - 0.3 * SS, below + 0.3 * SS
    page.symbol("tie", 320, 2, w=80 - HEAD_W, h=0.6 * SS)
    page.boxes[-1][1], page.boxes[-1][3] = below - 0.3 * SS, below + 0.3 * SS
    page.barline(420)
    path = score_file(page, tmp_path)
    # then the first two notes carry tie start/stop, and music21 reads one tied G4
    root = ET.parse(path).getroot()
    assert [[t.get("type") for t in n.findall("tie")] for n in root.iter("note")] == [["start"], ["stop"], []]
    notes = music21.converter.parse(str(path)).parts[0].flatten().notes
    assert [(n.nameWithOctave, n.tie.type if n.tie else None) for n in notes] == [
        ("G4", "start"), ("G4", "stop"), ("A4", None)]


def test_a_metre_change_further_down_does_not_set_the_opening_time(tmp_path):
    # given a page that continues a piece: the first system has no time signature and bars of
    # three quarters; the second system starts with a change to 9/8
    page = HandPage(staves=2)
    page.clef("clefG")
    for k in range(3):
        page.note(180 + 60 * k, 2)
    page.barline(380)
    page.current = 1
    page.clef("clefG")
    page.time(115, 9, 8)
    for k in range(3):
        page.note(180 + 60 * k, 2, stem="up")
        page.dot(180 + 60 * k + 20, 3)
    page.barline(380)
    path = score_file(page, tmp_path)
    # then the score opens in the 3/4 its first bar shows, and changes to 9/8 where it is written
    times = [(t.numerator, t.denominator) for t in music21.converter.parse(str(path)).recurse()
             .getElementsByClass("TimeSignature")]
    assert times == [(3, 4), (9, 8)]
