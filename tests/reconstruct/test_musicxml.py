"""The MusicXML writer: partwise 4.0 that music21 parses and Verovio renders, grand staves."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import music21
import numpy as np
import verovio

from detector.reconstruct.musicxml import write_musicxml
from detector.reconstruct.reading import read_score
from detector.reconstruct.structure import reconstruct_structure

from handmade import HandPage
from musicxml_reading import score_file


def _two_staff_page(brace: bool) -> HandPage:
    """Treble C5 half + G4 half over bass C3 whole, one system (joined barlines)."""
    page = HandPage(staves=2)
    page.clef("clefG")
    page.time(115, 4, 4)
    page.note(200, 5, "Half", stem="down")
    page.note(300, 2, "Half", stem="up")
    page.barline(40, through=2)
    page.barline(400, through=2)
    page.current = 1
    page.clef("clefF")
    page.time(115, 4, 4)
    page.note(200, 3, "Whole", stem=None)
    if brace:
        page.names.append("brace")
        page.boxes.append([20, 90, 36, 490])
    return page


def test_written_file_is_musicxml_4_partwise(tmp_path):
    page = HandPage()
    page.clef("clefG")
    page.note(200, 2)
    page.barline(260)
    path = score_file(page, tmp_path)
    text = path.read_text()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>') and "MusicXML 4.0 Partwise" in text
    root = ET.parse(path).getroot()
    assert root.tag == "score-partwise" and root.get("version") == "4.0"
    attributes = root.find("part/measure/attributes")
    assert attributes.findtext("divisions") == "1"
    assert attributes.findtext("clef/sign") == "G" and attributes.findtext("clef/line") == "2"


def test_a_braced_grand_staff_is_one_part_with_two_staves(tmp_path):
    # given two staves joined by a brace and by their barlines
    path = score_file(_two_staff_page(brace=True), tmp_path)
    root = ET.parse(path).getroot()
    # then one part with <staves>2</staves>, a clef per staff, the bass after a <backup>
    parts = root.findall("part")
    assert len(parts) == 1
    measure = parts[0].find("measure")
    assert measure.findtext("attributes/staves") == "2"
    assert [c.findtext("sign") for c in measure.findall("attributes/clef")] == ["G", "F"]
    children = [c.tag for c in measure]
    assert children.index("backup") > children.index("note")
    assert int(measure.findtext("backup/duration")) == 4
    assert [n.findtext("staff") for n in measure.findall("note")] == ["1", "1", "2"]
    parsed = music21.converter.parse(str(path))
    pitches = sorted(p.nameWithOctave for p in parsed.flatten().pitches)
    assert pitches == ["C3", "C5", "G4"]


def test_staves_without_a_brace_are_separate_parts(tmp_path):
    path = score_file(_two_staff_page(brace=False), tmp_path)
    root = ET.parse(path).getroot()
    assert len(root.findall("part")) == 2
    assert len(music21.converter.parse(str(path)).parts) == 2


def test_verovio_renders_the_written_score(tmp_path):
    path = score_file(_two_staff_page(brace=True), tmp_path)
    toolkit = verovio.toolkit()
    assert toolkit.loadData(path.read_text())
    svg = toolkit.renderToSVG(1)
    assert svg.count('class="note"') == 3


def test_a_blank_page_still_writes_a_valid_part_list(tmp_path):
    # given a page with no staff at all (nothing to read)
    blank = np.full((400, 600), 255, dtype=np.uint8)
    score = read_score(reconstruct_structure(blank, []))
    path = write_musicxml(score, tmp_path / "blank.musicxml")
    # then the file has the one score-part the schema requires, and no note
    root = ET.parse(path).getroot()
    assert [p.get("id") for p in root.iter("score-part")] == ["P1"]
    assert len(music21.converter.parse(str(path)).parts) == 1
    assert not list(root.iter("note"))
