"""Stems rebuilt from noteheads: the rule proposes, the page's ink decides."""
from __future__ import annotations

import numpy as np

from detector.reconstruct.stems import RULE_SCORE
from detector.reconstruct.structure import reconstruct_structure
from detector.reconstruct.symbols import has_stem, notehead_kind, symbols_from_page
from tests.reconstruct.structure_pages import real_page, real_result, rotated_real, score, synthetic_total


def test_real_page_stems_match_the_ground_truth():
    # given the real page's 149 stems; when rebuilt from its ground-truth noteheads
    page, _ = real_page()
    result = real_result()
    match = score(result, page.boxes, page.class_names, "stem")
    # then they are found on the ink, 3 px wide, with IoU >= 0.5
    assert match.ground_truth == 149
    assert match.f1 >= 0.97, match
    assert all(stem.from_ink for stem in result.stems)


def test_stems_follow_the_engraving_sides_and_carry_their_chords():
    result = real_result()
    for stem in result.stems:
        note = stem.notes[0]
        # up-stems leave the notehead at its right edge, down-stems at its left edge
        edge = note.box[2] if stem.direction == "up" else note.box[0]
        assert abs(stem.x - edge) < 0.35 * result.staves[stem.staff_index].staff_space_px
        # the tip is the free end
        assert (stem.tip_y < note.box[1]) if stem.direction == "up" else (stem.tip_y > note.box[3])
    # whole notes carry none; every other notehead is on exactly one stem
    carried = [id(n) for s in result.stems for n in s.notes]
    assert len(carried) == len(set(carried))
    assert {id(n) for n in result.notes if has_stem(n.class_name)} == set(carried)
    assert not any(notehead_kind(n.class_name) == "Whole" for s in result.stems for n in s.notes)
    assert any(len(s.notes) == 2 for s in result.stems)  # the page's one two-note chord


def test_without_stem_ink_the_rule_proposes_them():
    # given the real page with every stem painted out
    page, gray = real_page()
    erased = gray.copy()
    dy = 2  # the page's boxes sit ~2 px above the ink
    for name, (x0, y0, x1, y1) in zip(page.class_names, page.boxes):
        if name == "stem":
            erased[int(y0) + dy - 1:int(np.ceil(y1)) + dy + 2, int(x0) - 1:int(np.ceil(x1)) + 2] = 255
    # when reconstructed
    result = reconstruct_structure(erased, symbols_from_page(page))
    # then every stemmed note still has a stem, proposed by the rule with a low score
    assert sum(len(s.notes) for s in result.stems) == sum(has_stem(n.class_name) for n in result.notes)
    assert sum(not s.from_ink for s in result.stems) >= 0.9 * len(result.stems)
    assert all(s.score <= RULE_SCORE for s in result.rebuilt("stem") if s.score < 0.5)
    # and the rule's direction: down on or above the middle line, up below (single notes)
    for stem in result.stems:
        if not stem.from_ink and len(stem.notes) == 1:
            assert stem.direction == ("down" if stem.notes[0].position >= 4 else "up")


def test_stems_on_a_page_turned_by_one_and_a_half_degrees():
    turned, boxes, names, result = rotated_real()
    assert score(result, boxes, names, "stem").f1 >= 0.95


def test_synthetic_pages_stems_match_the_ground_truth(synthetic_dataset):
    # given synthetic pages (several fonts, chords); when rebuilt from their ground-truth noteheads
    total = synthetic_total(synthetic_dataset, "stem")
    # then F1 over the pages meets the goal
    assert total.ground_truth > 300
    assert total.f1 >= 0.97, total
