"""Part names and the first bar number read from the page's margins (margin_text.py, text_ocr.py).

The real DSv2 page prints Vc., Vlns., Vlns., Vlas., Vcs., Cb. beside both systems and bar
numbers 10 and 15 above them (LilyPond engraving, a font the project never generates).
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import music21
import numpy as np
import pytest

from detector.data.deepscores import load_deepscores, load_page_image
from detector.reconstruct.margin_text import first_measure_of, measure_index, systems_of
from detector.reconstruct.musicxml import write_musicxml
from detector.reconstruct.pipeline import read_music
from detector.reconstruct.symbols import symbols_from_page
from detector.reconstruct.whole_score import assemble_score, read_page

PRINTED_NAMES = ["Vc.", "Vlns.", "Vlns.", "Vlas.", "Vcs.", "Cb."]


@pytest.fixture(scope="module")
def dsv2_page(dsv2_sample_json):
    page = load_deepscores(dsv2_sample_json).pages[0]
    return load_page_image(page.path), symbols_from_page(page)


def test_real_page_names_parts_and_numbers_bars_from_the_print(dsv2_page, tmp_path: Path) -> None:
    gray, symbols = dsv2_page
    score, _, _ = read_music(gray, symbols)
    assert [p.name for p in score.parts] == PRINTED_NAMES
    assert [p.abbreviation for p in score.parts] == [""] * 6  # the same text beside system 2
    assert score.first_measure == 10
    path = write_musicxml(score, tmp_path / "page.musicxml")
    parsed = music21.converter.parse(str(path))
    assert [p.partName for p in parsed.parts] == PRINTED_NAMES
    numbers = [m.number for m in parsed.parts[0].getElementsByClass("Measure")]
    assert numbers == list(range(10, 10 + len(numbers))) and len(numbers) == 10  # bars 10-19


def test_page_without_margin_text_invents_no_names(dsv2_page, tmp_path: Path) -> None:
    """The same page with its names and bar numbers painted out: parts are "Part N", bars from 1."""
    gray, symbols = dsv2_page
    score, _, _ = read_music(gray, symbols, read_text=False)
    blank = gray.copy()
    for system in systems_of(score):
        space = system[0].staff.staff_space_px
        left = int(min(s.staff.xs[0] for s in system) - 0.5 * space)
        top = int(np.median(system[0].staff.line_ys[0]))
        blank[:, :left] = 255  # the names
        blank[max(top - int(6 * space), 0): top - int(space), : left + int(5 * space)] = 255  # "10", "15"
    score, _, _ = read_music(blank, symbols)
    assert [p.name for p in score.parts] == [""] * 6 and score.first_measure == 1
    parsed = music21.converter.parse(str(write_musicxml(score, tmp_path / "blank.musicxml")))
    assert [p.partName for p in parsed.parts] == [f"Part {k}" for k in range(1, 7)]
    assert parsed.parts[0].getElementsByClass("Measure")[0].number == 1


def test_whole_score_takes_names_and_first_bar_from_its_first_page(dsv2_page, tmp_path: Path) -> None:
    gray, symbols = dsv2_page
    pages = [read_page(gray, symbols, name=f"p{k}") for k in (1, 2)]
    score = assemble_score(pages)
    assert [p.name for p in score.parts] == PRINTED_NAMES and score.first_measure == 10
    parsed = music21.converter.parse(str(write_musicxml(score, tmp_path / "book.musicxml")))
    numbers = [m.number for m in parsed.parts[0].getElementsByClass("Measure")]
    assert numbers == list(range(10, 30))  # two pages of 10 bars, numbered on from 10


def test_first_bar_is_what_the_numbers_agree_on() -> None:
    # (number, system, measures before it on the page, above a system start)
    assert first_measure_of([(10, 0, 0, True), (15, 1, 5, True)]) == 10
    # a lone number above a system's start is trusted; fingerings inside systems are outvoted
    assert first_measure_of([(39, 0, 0, True), (3, 0, 1, False), (4, 0, 3, False)]) == 39
    # numbers inside systems (every 5 bars) that agree with each other
    assert first_measure_of([(15, 0, 3, False), (20, 1, 8, False)]) == 12
    # one number inside a system alone could be a tuplet's 3: not trusted
    assert first_measure_of([(3, 0, 1, False)]) is None
    assert first_measure_of([]) is None


def test_bar_number_inside_a_system_counts_the_barlines_before_it() -> None:
    staff = SimpleNamespace(xs=np.array([100.0, 2000.0]))
    music = SimpleNamespace(staff=staff, barlines=[100.0, 600.0, 1100.0, 1600.0, 2000.0])
    space = 20.0
    assert measure_index(music, 610.0, space) == 1  # just after the first inner barline: bar 2
    assert measure_index(music, 1590.0, space) == 3  # centred on the third one
    assert measure_index(music, 850.0, space) is None  # mid-measure: a fingering, not a bar number
