"""Whole scores: consecutive pages of one synthetic quartet read into ONE score, at any scale.

The pages are read from their ground-truth symbols (the detector is too slow for tests: it is
measured by ``python -m detector.benchmarks.whole_score_bench --weights``).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest

from detector.benchmarks.whole_score_bench import load_piece, page_by_page, scaled_page, whole_piece
from detector.data.deepscores import load_deepscores, load_page_image
from detector.reconstruct.deskew import rotate_page
from detector.reconstruct.music import Measure, NoteEvent, Score, StaffMusic
from detector.reconstruct.musicxml import write_musicxml
from detector.reconstruct.pitch import Clef, Pitch
from detector.reconstruct.symbols import Symbol, symbols_from_page
from detector.reconstruct.whole_score import PageMusic, assemble_score, match_staves, names_match, read_page


@pytest.fixture(scope="module")
def read_pages(quartet):
    """Each page read alone, from its ground-truth symbols, with the truths."""
    pages, truths = load_piece(quartet)
    read = [read_page(load_page_image(p.path), symbols_from_page(p), name=p.filename) for p in pages]
    return pages, read, truths


def test_whole_piece_reads_as_well_as_its_pages_and_no_part_swaps_or_restarts(read_pages):
    # given two pages of a quartet, each read alone
    _, read, truths = read_pages
    # when they are assembled into one score and compared part by part over the whole piece
    whole, alone = whole_piece(read, truths), page_by_page(read, truths, [1.0] * len(read))
    # then every true part is one recognised part, and the error rate is the pages' error rate
    assert whole.swapped == 0 and whole.split == 0
    assert sorted(whole.by_part) == [0, 1, 2, 3]
    assert whole.true_tokens == alone.true_tokens > 300
    assert whole.pitch <= alone.pitch + 1e-9 and whole.pitch < 0.02
    assert whole.full <= alone.full + 1e-9 and whole.full < 0.05


def test_measures_run_through_pages_with_system_and_page_breaks(read_pages, tmp_path):
    # given the two pages assembled into one score
    _, read, _ = read_pages
    score = assemble_score(read)
    path = write_musicxml(score, tmp_path / "quartet.musicxml")
    # then each of the 4 parts numbers its measures 1..N through both pages, N the same for all
    root = ET.parse(path).getroot()
    parts = root.findall("part")
    assert len(parts) == 4
    numbers = [[int(m.get("number")) for m in part.findall("measure")] for part in parts]
    assert all(n == list(range(1, len(numbers[0]) + 1)) for n in numbers)
    # and breaks: a new page once (page 2's first measure), a new system at every other system start
    systems = [len(page.systems) for page in read]
    for part in parts:
        prints = [p.attrib for m in part.findall("measure") for p in m.findall("print")]
        assert prints.count({"new-page": "yes"}) == len(read) - 1
        assert prints.count({"new-system": "yes"}) == sum(systems) - len(read)
    page_2 = 1 + sum(max(len(s.measures) for group in system for s in group) for system in read[0].systems)
    assert parts[0].find(f"measure[@number='{page_2}']/print").get("new-page") == "yes"


def test_the_same_page_at_half_to_double_scale_gives_the_same_notes(read_pages):
    # given page 1 given at 50 %, 75 % and 200 % of its size (150, 225, 600 dpi for a 300-dpi page)
    pages, read, truths = read_pages
    gray, symbols = load_page_image(pages[0].path), symbols_from_page(pages[0])
    reference = page_by_page(read[:1], truths[:1], [1.0])
    for scale in (0.5, 0.75, 2.0):
        scaled, scaled_symbols = scaled_page(gray, symbols, scale)
        # when it is read (resampled into the detector's staff-space range first)
        result = read_page(scaled, scaled_symbols)
        assert 20.0 <= result.scale.staff_space_px * result.scale.factor <= 24.0
        # then the pitch error rate is the full-size page's, within 0.01
        rates = page_by_page([result], truths[:1], [scale])
        assert abs(rates.pitch - reference.pitch) <= 0.01, scale
        assert rates.true_tokens == reference.true_tokens


def _staff(clef: str, measures: int) -> StaffMusic:
    notes = [Measure([NoteEvent(x=0.0, duration=Fraction(1), base=Fraction(1))]) for _ in range(measures)]
    return StaffMusic(index=0, staff=None, measures=notes, clef=Clef(clef))


def _page(*systems: list[StaffMusic]) -> PageMusic:
    staves = [s for system in systems for s in system]
    return PageMusic("page", Score(parts=[], staves=staves, time=(4, 4)),
                     [[[s] for s in system] for system in systems])


def test_a_second_violin_left_out_goes_to_the_upper_part_of_its_clef():
    # given a quartet's clefs and a system of violin, viola and cello (G, C, F): one violin rests
    clefs = [Clef("clefG"), Clef("clefG"), Clef("clefCAlto"), Clef("clefF")]
    staves = [_staff("clefG", 1), _staff("clefCAlto", 1), _staff("clefF", 1)]
    # then the violin is the first violin (no names printed: the upper part of its clef is kept)
    assert match_staves(staves, clefs) == [0, 2, 3]


def test_a_piano_playing_alone_goes_to_the_piano_not_to_the_strings_of_its_clefs():
    # given a piano trio's parts (violin G, cello F, piano G+F braced) and a system where the
    # piano plays alone: one braced pair, G and F
    clefs = [Clef("clefG"), Clef("clefF"), Clef("clefG"), Clef("clefF")]
    staves = [_staff("clefG", 1), _staff("clefF", 1)]
    # then the pair goes to the piano's two staves
    assert match_staves(staves, clefs, group_sizes=[2, 2], slot_sizes=[1, 1, 2, 2]) == [2, 3]
    # and, with no brace read, to the upper parts of its clefs
    assert match_staves(staves, clefs, group_sizes=[1, 1], slot_sizes=[1, 1, 2, 2]) == [0, 1]


def test_a_part_left_out_of_a_system_gets_empty_measures_and_the_others_keep_their_parts():
    # given a quartet system (G, G, C, F clefs), then a system where the viola rests (left out)
    full = [_staff("clefG", 3), _staff("clefG", 3), _staff("clefCAlto", 3), _staff("clefF", 3)]
    short = [_staff("clefG", 2), _staff("clefG", 2), _staff("clefF", 2)]
    # when the staves of the short system are matched to the parts
    assert match_staves(short, [s.clef for s in full]) == [0, 1, 3]
    score = assemble_score([_page(full), _page(short)])
    # then the viola has 3 + 2 measures like everyone, the last 2 empty, and page 2 is a new page
    assert [len(p.measure_rows()) for p in score.parts] == [5, 5, 5, 5]
    assert [len(m.events) for m in score.parts[2].systems[1][0].measures] == [0, 0]
    assert score.parts[3].systems[1][0] is short[2]
    assert all(p.system_pages == [0, 1] for p in score.parts)


def test_a_staff_that_joins_in_a_later_system_is_a_part_from_the_start():
    # given a one-staff system, then a system where a second instrument joins below
    first, second = [_staff("clefG", 2)], [_staff("clefG", 2), _staff("clefF", 2)]
    score = assemble_score([_page(first, second)])
    # then there are two parts (the widest system's), the second empty before it joined
    assert [len(p.measure_rows()) for p in score.parts] == [4, 4]
    assert score.parts[0].systems[0][0] is first[0]
    assert [len(m.events) for m in score.parts[1].systems[0][0].measures] == [0, 0]


def test_a_guessed_clef_octave_is_outvoted_by_the_parts_systems_on_other_pages():
    # given a tenor part read with a treble-8 clef on two pages, and on a third page (one system)
    # a plain treble clef whose octave was only guessed from its box
    tenor = [_staff("clefG", 1) for _ in range(3)]
    for staff in tenor[:2]:
        staff.clef = Clef("clefG", octave_change=-1)
    tenor[2].clef = Clef("clefG", octave_guessed=True)
    tenor[2].measures[0].items[0].pitches = [Pitch("C", 4)]
    # when the pages are assembled
    assemble_score([_page([staff]) for staff in tenor])
    # then the third page's staff is read an octave down, as the part's other systems say
    assert tenor[2].clef.octave_change == -1
    assert tenor[2].measures[0].events[0].pitches[0].octave == 3


def test_a_turned_page_of_a_whole_score_is_deskewed_too(dsv2_sample_image, dsv2_sample_json):
    # given the real page and the same page turned 2 degrees, with its symbols turned alike
    page = load_deepscores(dsv2_sample_json).pages[0]
    gray = load_page_image(dsv2_sample_image)
    turned, boxes = rotate_page(gray, page.boxes, 2.0)
    straight = read_page(gray, symbols_from_page(page))
    tilted = read_page(turned, [Symbol(n, tuple(b)) for n, b in zip(page.class_names, boxes)])
    # when both are read for a whole score, then the turned page keeps its 2 systems of 6 staves
    counts = [len(system) for system in straight.systems]
    assert [len(system) for system in tilted.systems] == counts == [6, 6]


def _named(clef: str, label: str, measures: int = 1) -> StaffMusic:
    staff = _staff(clef, measures)
    staff.label = label
    return staff


@pytest.mark.parametrize("a, b, same", [
    ("Vc.", "Violoncello", True), ("Vlns.", "Violins", True), ("Ob.", "Oboe", True),
    ("Vln. I", "Violin I", True), ("Vln. II", "Violin 2", True), ("Violini", "Vl.", True),
    ("Vln. I", "Violin II", False), ("Ob.", "Flute", False), ("Vlas.", "Vlns.", False),
])
def test_printed_names_and_their_abbreviations(a, b, same):
    assert names_match(a, b) is same


def test_a_named_staff_goes_to_its_part_even_when_the_part_above_of_its_clef_rests():
    # given flute and oboe (both treble) and a cello, named on the first system; on the next
    # the flute rests and the oboe is printed "Ob."
    first = [_named("clefG", "Flute", 2), _named("clefG", "Oboe", 2), _named("clefF", "Cello", 2)]
    second = [_named("clefG", "Ob.", 2), _named("clefF", "Vc.", 2)]
    # when the two systems are assembled
    score = assemble_score([_page(first, second)])
    # then the oboe's staff goes to the oboe (by clef and order alone it would be the flute's)
    assert match_staves(second, [s.clef for s in first]) == [0, 2]
    assert score.parts[1].systems[1][0] is second[0]
    assert [len(m.events) for m in score.parts[0].systems[1][0].measures] == [0, 0]  # the flute rests
    assert [p.name for p in score.parts] == ["Flute", "Oboe", "Cello"]
    assert [p.abbreviation for p in score.parts] == ["", "Ob.", "Vc."]
