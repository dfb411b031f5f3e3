"""Pitch: staff position + clef + key signature + accidentals -> the written pitch."""
from __future__ import annotations

import music21

from detector.reconstruct.pitch import Clef, MeasureAccidentals, key_alterations, snap_position
from handmade import SS, HandPage
from musicxml_reading import music21_notes, score_file, xml_notes


def test_clefs_read_their_reference_notes():
    # given each clef, when the note on its reference line is read, then it is that note
    assert Clef("clefG").diatonic_index(2) == 4 * 7 + 4  # G4 on line 2
    assert Clef("clefF").diatonic_index(6) == 3 * 7 + 3  # F3 on line 4
    assert Clef("clefCAlto").diatonic_index(4) == 4 * 7  # C4 on the middle line
    assert Clef("clefCTenor").diatonic_index(6) == 4 * 7  # C4 on line 4
    assert Clef("clefG", octave_change=-1).diatonic_index(2) == 3 * 7 + 4  # tenor voice G3


def test_notehead_class_decides_line_or_space():
    # a box centre half way between line 2 and the space above: the class breaks the tie
    assert snap_position(2.45, on_line=True) == 2
    assert snap_position(2.55, on_line=True) == 2
    assert snap_position(2.45, on_line=False) == 3
    assert snap_position(1.6, on_line=False) == 1


def test_accidental_holds_for_the_measure_at_its_octave_only():
    state = MeasureAccidentals(key=key_alterations(-3))  # Bb Eb Ab
    treble = Clef("clefG")
    assert state.pitch(treble, 3, None).alter == -1  # A4 -> Ab4 from the key
    assert state.pitch(treble, 3, 0).alter == 0  # natural
    assert state.pitch(treble, 3, None).alter == 0  # still natural later in the measure
    assert state.pitch(treble, 10, None).alter == -1  # A5: another octave keeps the key's flat


def test_c_major_scale_in_treble_clef(tmp_path):
    # given a treble staff in 4/4 with C4 D4 E4 F4 | G4 A4 B4 C5 as quarter notes
    page = HandPage()
    page.clef("clefG")
    page.time(115, 4, 4)
    xs = [170 + 60 * k for k in range(8)]
    for k, (x, pos) in enumerate(zip(xs, range(-2, 6))):
        page.note(x + (40 if k >= 4 else 0), pos, stem="up" if pos < 4 else "down")
    page.barline(xs[3] + 50)
    page.barline(xs[7] + 90)
    # when it is recognised and written
    path = score_file(page, tmp_path)
    notes = xml_notes(path)
    # then the XML holds exactly the scale, all quarters, in two measures
    assert [(n["step"], n["octave"], n["alter"]) for n in notes] == [
        ("C", 4, 0), ("D", 4, 0), ("E", 4, 0), ("F", 4, 0), ("G", 4, 0), ("A", 4, 0), ("B", 4, 0), ("C", 5, 0)]
    assert {n["type"] for n in notes} == {"quarter"}
    parsed = music21.converter.parse(str(path))
    assert len(parsed.parts[0].getElementsByClass("Measure")) == 2
    assert parsed.parts[0].getTimeSignatures()[0].ratioString == "4/4"
    assert music21_notes(path) == [(n, 1.0) for n in ("C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5")]


def test_bass_clef_three_flats_and_a_natural(tmp_path):
    # given a bass staff with 3 flats: B2 E3 (natural)A2 A2 A3 | A2
    page = HandPage()
    page.clef("clefF")
    for k, pos in enumerate((2, 5, 1)):  # Bb, Eb, Ab on their bass-clef lines and spaces
        page.symbol("keyFlat", 110 + 18 * k, pos + 0.6, w=14, h=2.4 * SS)
    page.note(220, 2)
    page.note(290, 5)
    page.symbol("accidentalNatural", 340, 1, w=12, h=3 * SS)
    page.note(370, 1)
    page.note(440, 1)
    page.note(510, 8, stem="down")
    page.barline(570)
    page.note(630, 1)
    page.barline(700)
    path = score_file(page, tmp_path)
    notes = xml_notes(path)
    assert [(n["step"], n["octave"], n["alter"]) for n in notes] == [
        ("B", 2, -1), ("E", 3, -1), ("A", 2, 0), ("A", 2, 0), ("A", 3, -1), ("A", 2, -1)]
    assert notes[2]["accidental"] == "natural" and notes[3]["accidental"] is None
    parsed = music21.converter.parse(str(path))
    first_measure = parsed.parts[0].getElementsByClass("Measure")[0]
    assert first_measure.keySignature.sharps == -3
    assert [n for n, _ in music21_notes(path)] == ["B-2", "E-3", "A2", "A2", "A-3", "A-2"]


def test_ledger_line_notes_above_and_below(tmp_path):
    # given treble-clef notes on ledger lines: C6, A5 above; A3, F3 below (ink has the ledgers)
    page = HandPage()
    page.clef("clefG")
    for x, pos in ((170, 12), (240, 10), (310, -4), (380, -6)):
        page.note(x, pos, stem="down" if pos > 4 else "up")
    page.barline(440)
    notes = xml_notes(score_file(page, tmp_path))
    assert [(n["step"], n["octave"]) for n in notes] == [("C", 6), ("A", 5), ("A", 3), ("F", 3)]


def test_octave_mark_below_a_treble_clef_lowers_every_note(tmp_path):
    page = HandPage()
    page.clef("clefG")
    page.symbol("clef8", 70, -5, w=0.6 * SS, h=0.8 * SS)
    page.note(170, 2)
    page.barline(240)
    path = score_file(page, tmp_path)
    assert [(n["step"], n["octave"]) for n in xml_notes(path)] == [("G", 3)]
    parsed = music21.converter.parse(str(path))
    assert parsed.parts[0].getElementsByClass("Measure")[0].clef.octaveChange == -1


def test_an_octave_mark_nearer_the_next_staff_stays_with_its_clef(tmp_path):
    # given a tenor line (treble clef, 8 below) over a bass line, the 8 hanging 3-4 spaces
    # under the tenor staff: nearer the bass staff's middle line than its own
    page = HandPage(staves=2)
    page.symbol("clefG", 70, 2.7, w=1.3 * SS, h=8.5 * SS)  # like gClef8vb: 3 spaces under the staff
    page.symbol("clef8", 70, -7.0, w=0.6 * SS, h=1.2 * SS)  # touching the clef's foot
    page.note(170, 2)  # G on the treble's second line: G3 under the 8
    page.barline(240, through=2)
    page.current = 1
    page.clef("clefF")
    page.note(170, 6, stem="down")  # F3 on the bass staff's fourth line
    page.gray[100:381, 40:42] = 0  # the system's left line: two instruments of one system
    # when the page is read, then the tenor sounds an octave down and the bass is untouched
    path = score_file(page, tmp_path)
    parts = music21.converter.parse(str(path)).parts
    assert [[n.nameWithOctave for n in part.flatten().notes] for part in parts] == [["G3"], ["F3"]]


def test_clef_change_mid_staff(tmp_path):
    # given a treble staff that switches to the alto clef: the same middle-line note changes name
    page = HandPage()
    page.clef("clefG")
    page.note(170, 4, stem="down")
    page.clef("clefCAlto", 240)
    page.note(300, 4, stem="down")
    page.barline(360)
    assert [(n["step"], n["octave"]) for n in xml_notes(score_file(page, tmp_path))] == [("B", 4), ("C", 4)]


def test_a_clef_box_too_long_on_one_system_is_outvoted_by_the_others(tmp_path):
    # given one instrument over three systems, each a G on the second line; on the middle
    # system the clef's box reaches 3 spaces under the staff, as an octave clef's would
    page = HandPage(staves=3)
    for system in range(3):
        page.current = system
        if system == 1:
            page.symbol("clefG", 70, 2.7, w=1.3 * SS, h=8.5 * SS)
        else:
            page.clef("clefG")
        page.note(170, 2)
        page.barline(240)
    # when the page is read, then every system keeps the part's treble clef: G4 three times
    path = score_file(page, tmp_path)
    assert [(n["step"], n["octave"]) for n in xml_notes(path)] == [("G", 4)] * 3


def test_an_octave_mark_on_one_system_outweighs_guesses_on_the_others(tmp_path):
    # given a tenor line over three systems: the 8 under its clef found on the first system
    # only (a detector misses the small digit more often than it invents one)
    page = HandPage(staves=3)
    for system in range(3):
        page.current = system
        page.clef("clefG")
        if system == 0:
            page.symbol("clef8", 70, -4.2, w=0.6 * SS, h=0.8 * SS)
        page.note(170, 2)
        page.barline(240)
    # when the page is read, then every system sounds an octave down: G3 three times
    path = score_file(page, tmp_path)
    assert [(n["step"], n["octave"]) for n in xml_notes(path)] == [("G", 3)] * 3


def test_an_octave_mark_between_two_clefs_hangs_from_the_one_above():
    # given two tenor lines close together (a Palestrina page): the 8 just under the upper treble
    # clef's foot, and the lower staff's clef boxed too tall, over the 8 (as the shipped detector did)
    import numpy as np

    from detector.reconstruct.structure import follow_clefs
    from detector.reconstruct.symbols import Symbol

    boxes = np.array([[254, 584, 304, 712],    # staff 2's treble clef
                      [272, 714, 287, 732],    # its 8 (2 px under the foot)
                      [254, 729, 299, 870]],   # staff 3's treble clef, reaching up over the 8
                     dtype=float)
    symbols = [Symbol(n, tuple(b)) for n, b in zip(["clefG", "clef8", "clefG"], boxes)]
    staff_of = np.array([2, 3, 3])  # by distance the 8 went to staff 3
    # when octave marks follow their clefs
    follow_clefs(symbols, boxes, staff_of)
    # then the 8 is on staff 2, under the clef it hangs from
    assert staff_of.tolist() == [2, 2, 3]
    # while a mark touching one clef only stays with it, wherever it is
    staff_of = np.array([2, 2, 3])
    follow_clefs(symbols[1:], boxes[1:], staff_of[1:])
    assert staff_of.tolist() == [2, 3, 3]


def test_an_octave_mark_the_detector_missed_is_found_in_the_ink(dsv2_sample_json):
    # given the real page's symbols without its "8" (under the double bass's bass clef)
    from detector.data.deepscores import load_deepscores, load_page_image
    from detector.reconstruct.pipeline import read_music
    from detector.reconstruct.symbols import symbols_from_page

    page = load_deepscores(dsv2_sample_json).pages[0]
    symbols = [s for s in symbols_from_page(page) if s.class_name != "clef8"]
    score, _, _ = read_music(load_page_image(page.path), symbols, read_text=False)
    # then both double-bass staves (the last of each system) read the 8 from the ink
    octaves = [(s.clef.class_name, s.clef.octave_change) for s in score.staves]
    assert octaves[5] == octaves[11] == ("clefF", -1)
    assert [o for k, o in enumerate(octaves) if k not in (5, 11)] == [(name, 0) for name, _ in
                                                                      octaves[:5] + octaves[6:11]]


def test_a_lone_key_flat_among_the_notes_is_an_accidental(tmp_path):
    # given a treble staff without key signature, and a flat the detector called "keyFlat" right
    # before the second B of the bar, far from any barline (a trumpet part of a text page)
    page = HandPage()
    page.clef("clefG")
    page.note(170, 4, stem="down")  # B4
    page.symbol("keyFlat", 300, 5.4, w=0.6 * SS, h=2.5 * SS)  # its bowl on the middle line
    page.note(330, 4, stem="down")
    page.barline(400)
    page.note(450, 4, stem="down")
    page.barline(520)
    # when the page is read, then the flat alters its note for the bar only: no key change
    notes = [(n["step"], n["alter"]) for n in xml_notes(score_file(page, tmp_path))]
    assert notes == [("B", 0), ("B", -1), ("B", 0)]
