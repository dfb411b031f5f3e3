"""Given a page engraved with every kind of text, the text is drawn (in the project's fonts) but
only fingerings are annotated: titles, lyrics and figured bass are background, never notes."""
from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from detector.data.synth.page import generate_page
from detector.data.synth.text import TextPlan
from tests.synth.test_boxes_tight import INK_ALPHA, _box_fits_ink

MEI_NS = "{http://www.music-encoding.org/ns/mei}"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
#: Seed and page index of a corpus page with several staves (checked: it keeps its text).
SEED, INDEX = 5, 1


@pytest.fixture(scope="module")
def text_page():
    return generate_page(SEED, INDEX, plan=TextPlan.everything(verses=2))


def _ink(page) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(page.png)).getchannel("A")) >= INK_ALPHA


def test_title_area_has_ink_outside_every_box(text_page):
    # given: the page's ink and all its annotation boxes (grown by 2 px)
    ink = _ink(text_page)
    covered = np.zeros_like(ink)
    for sym in text_page.symbols:
        x0, y0, x1, y1 = sym.box
        covered[max(0, int(y0) - 2):int(np.ceil(y1)) + 2, max(0, int(x0) - 2):int(np.ceil(x1)) + 2] = True
    # when: we look above the first staff (the title block) and at the whole page
    first_staff_top = min(s.box[1] for s in text_page.symbols if s.class_name == "staff")
    title_ink = ink[:int(first_staff_top) - 40] & ~covered[:int(first_staff_top) - 40]
    unboxed = ink & ~covered
    # then: the title is drawn and is in no box; text ink is a real share of the page
    assert title_ink.sum() > 2000
    assert unboxed.sum() > 0.05 * ink.sum()


def test_lyrics_and_figured_bass_make_no_noteheads(text_page):
    # given: a page whose MEI carries lyrics and figured bass
    root = ET.fromstring(text_page.mei)
    assert root.find(f".//{MEI_NS}syl") is not None and root.find(f".//{MEI_NS}fb") is not None
    note_ids = {n.get(XML_ID) for n in root.iter(f"{MEI_NS}note")}
    # when: the notehead annotations are listed
    heads = [s for s in text_page.symbols if s.class_name.startswith("notehead")]
    # then: each is a note of the MEI, once, and every ground-truth note has its own box
    linked = [s.comment.removeprefix("mei:") for s in heads]
    assert set(linked) <= note_ids and len(linked) == len(set(linked))
    sounding = [n for n in text_page.notes if not n["rest"]]
    assert len(sounding) == len(heads)


def test_fingerings_are_boxed_tight_on_their_digits(text_page):
    # given: the fingering annotations of the page
    ink = _ink(text_page)
    fingerings = [s for s in text_page.symbols if s.class_name.startswith("fingering")]
    # then: there are some, and each box sits tight on its digit's ink (1 px)
    assert len(fingerings) >= 5
    assert all(_box_fits_ink(ink, list(s.box)) for s in fingerings)
