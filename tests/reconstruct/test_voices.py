"""Two voices on one staff: read by stem direction, written as MusicXML voices, read back by music21."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import music21

from handmade import SS, HandPage, two_voice_bar
from musicxml_reading import score_file


def test_two_voices_are_written_with_backup_and_read_back_by_music21(tmp_path):
    path = score_file(two_voice_bar(), tmp_path)
    # then the MusicXML holds voice 1 (two halves), a backup of a whole bar, voice 2 (four quarters)
    measure = ET.parse(path).getroot().find("part/measure")
    flow = [(el.tag, el.findtext("voice"), el.findtext("type"))
            for el in measure if el.tag in ("note", "backup")]
    assert flow == [("note", "1", "half"), ("note", "1", "half"), ("backup", None, None),
                    ("note", "2", "quarter"), ("note", "2", "quarter"), ("note", "2", "quarter"),
                    ("note", "2", "quarter")]
    backup = measure.find("backup/duration")
    divisions = int(measure.find("attributes/divisions").text)
    assert int(backup.text) == 4 * divisions
    # and music21 reads the same two voices
    part = music21.converter.parse(str(path)).parts[0]
    voices = part.getElementsByClass("Measure")[0].voices
    assert [[n.nameWithOctave for n in v.notes] for v in voices] == [["D5", "C5"], ["E4", "F4", "G4", "A4"]]


def test_one_line_with_stems_both_ways_stays_one_voice(tmp_path):
    # given a single line whose stems turn at the middle line (no two stems sound together)
    page = HandPage()
    page.clef("clefG")
    page.time(115, 4, 4)
    for k, position in enumerate([2, 4, 6, 8]):
        page.note(180 + 75 * k, position, stem="up" if position < 4 else "down")
    page.barline(520)
    measure = ET.parse(score_file(page, tmp_path)).getroot().find("part/measure")
    # then every note is in voice 1 and nothing backs up
    assert {n.findtext("voice") for n in measure.iter("note")} == {"1"}
    assert measure.find("backup") is None


def test_rests_of_the_lower_voice_stay_in_it(tmp_path):
    # given an upper voice of a half note and two quarters over a lower voice whose quarter
    # rest (drawn low, as engravers shift a lower voice's rests) fills the bar's second beat
    page = HandPage()
    page.clef("clefG")
    page.time(115, 4, 4)
    page.note(180, 7, "Half", stem="up")
    page.note(330, 7, stem="up")
    page.note(405, 6, stem="up")
    page.note(180, 0, stem="down")
    page.symbol("restQuarter", 255, 1, w=0.9 * SS, h=2.5 * SS)
    page.note(330, 2, "Half", stem="down")
    page.barline(520)
    measure = ET.parse(score_file(page, tmp_path)).getroot().find("part/measure")
    voices = {}
    for note in measure.iter("note"):
        value = "r" if note.find("rest") is not None else note.findtext("type")
        voices.setdefault(note.findtext("voice"), []).append(value)
    assert voices == {"1": ["half", "quarter", "quarter"], "2": ["quarter", "r", "half"]}
