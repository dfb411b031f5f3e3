"""Reading that survives text: titles, metronome marks and figured bass never become music.

The detector sometimes boxes a letter of a title or a lyric as a notehead and a figured-bass
digit as a tuplet number; reconstruction must not turn them into notes or durations.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from detector.reconstruct.reading import read_score
from detector.reconstruct.structure import reconstruct_structure
from detector.reconstruct.symbols import Symbol
from handmade import SS, HandPage
from musicxml_reading import music21_notes, score_file

DEJAVU = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSerif.ttf"


def _write(gray: np.ndarray, xy: tuple[int, int], text: str, size: int) -> list[tuple[float, ...]]:
    """Draw `text` into the page; return the boxes of its round letters (o, e, a, d, p): what a
    detector trained without text takes for black noteheads."""
    image = Image.fromarray(gray)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(DEJAVU), size)
    draw.text(xy, text, fill=0, font=font)
    gray[:] = np.asarray(image)
    boxes, x = [], float(xy[0])
    for ch in text:
        width = draw.textlength(ch, font=font)
        if ch in "oeadp":
            left, top, right, bottom = draw.textbbox((x, xy[1]), ch, font=font)
            boxes.append((float(left), float(top), float(right), float(bottom)))
        x += width
    return boxes


def _notes(page: HandPage, extra: list[Symbol]) -> list[str]:
    names, boxes = page.arrays()
    symbols = [Symbol(n, tuple(b)) for n, b in zip(names, boxes)] + extra
    score = read_score(reconstruct_structure(page.gray, symbols, staves=page.staves or None))
    return [p.name() for s in score.staves for m in s.measures for e in m.events for p in e.pitches]


def test_a_page_of_only_text_gives_no_notes():
    # given a page with a title, a tempo word and a line of lyrics, and no staff at all
    page = HandPage(staves=0)
    page.gray = np.full((600, 1400), 255, dtype=np.uint8)
    fakes = _write(page.gray, (300, 60), "Sonata pour deux", 60)
    fakes += _write(page.gray, (100, 250), "Andante moderato", 34)
    fakes += _write(page.gray, (100, 400), "A - ve, do - mi - ne, de - o", 34)
    assert len(fakes) >= 10
    # when every round letter is reported as a notehead, then no note is read
    assert _notes(page, [Symbol("noteheadBlackInSpace", b) for b in fakes]) == []


def test_title_letters_and_a_metronome_mark_above_the_staff_are_not_notes():
    # given a staff of four quarters, a title line just above it and a metronome mark's note
    # (stem, no ledger lines) 3 spaces above it, all boxed as noteheads
    page = HandPage(staves=1)
    page.clef("clefG")
    for k, position in enumerate([0, 2, 4, 6]):
        page.note(300 + 80 * k, position, stem="up" if position < 4 else "down")
    page.barline(660)
    title = _write(page.gray, (700, 8), "Lied ohne Worte", 40)
    head_y = 100 - 3 * SS  # the staff's top line is at y = 100
    page.gray[int(head_y - 7):int(head_y + 7), 150:172] = 0
    page.gray[5:int(head_y), 170:172] = 0
    _write(page.gray, (185, int(head_y - 20)), "= 100", 30)
    fakes = [Symbol("noteheadBlackInSpace", b) for b in title]
    fakes.append(Symbol("noteheadBlackOnLine", (150.0, head_y - 7, 172.0, head_y + 7)))
    assert len(fakes) >= 4
    # when the page is read, then only the staff's four notes come out
    assert _notes(page, fakes) == ["E4", "G4", "B4", "D5"]


def test_figured_bass_digits_are_not_tuplets(tmp_path):
    # given a bass line of quarters with figured-bass digits 6 and 3 under it, which a
    # detector took for tuplet numbers
    page = HandPage()
    page.clef("clefF")
    page.time(115, 4, 4)
    for k, position in enumerate([2, 3, 4, 5]):
        page.note(200 + 80 * k, position, stem="up" if position < 4 else "down")
        page.symbol("tuplet6" if k % 2 else "tuplet3", 200 + 80 * k, -7, w=0.6 * SS, h=0.9 * SS)
    page.barline(560)
    # when it is recognised, then every note keeps its quarter's length
    durations = [d for _, d in music21_notes(score_file(page, tmp_path))]
    assert np.allclose(durations, [1.0, 1.0, 1.0, 1.0])


def test_a_black_notehead_with_no_stem_in_the_ink_is_not_a_note():
    # given two quarters and, between them on the staff, a round blot with no stem (a letter
    # of an expression word, a smudge) that the detector boxed as a black notehead
    page = HandPage(staves=1)
    page.clef("clefG")
    page.note(300, 2, stem="up")
    page.note(460, 4, stem="down")
    blot_y = page.y(3)
    page.gray[int(blot_y - 9):int(blot_y + 9), 372:394] = 0
    blot = Symbol("noteheadBlackInSpace", (372.0, blot_y - 9, 394.0, blot_y + 9))
    page.barline(560)
    # then only the two quarters are read
    assert _notes(page, [blot]) == ["G4", "B4"]
