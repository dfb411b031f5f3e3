"""Ledger lines rebuilt from noteheads, on the real DSv2 page, a skewed copy and synthetic pages."""
from __future__ import annotations

import numpy as np

from detector.reconstruct.ledgers import ledger_positions, rebuild_ledger_lines
from detector.reconstruct.rules import EngravingRules
from detector.benchmarks.box_matching import box_iou
from tests.reconstruct.structure_pages import real_page, real_result, rotated_real, score, synthetic_total


def test_a_note_needs_the_ledger_lines_between_it_and_the_staff():
    # positions in half spaces: 0 = bottom line, 8 = top line
    assert ledger_positions(-1) == [] and ledger_positions(9) == [] and ledger_positions(4) == []
    assert ledger_positions(-2) == [-2]
    assert ledger_positions(-5) == [-2, -4]
    assert ledger_positions(10) == [10]
    assert ledger_positions(13) == [10, 12]


def test_real_page_ledger_lines_match_the_ground_truth():
    # given the real page's 25 ledger lines; when rebuilt from its ground-truth noteheads
    page, _ = real_page()
    result = real_result()
    match = score(result, page.boxes, page.class_names, "ledgerLine")
    # then all are found, in the dataset's frame (its boxes sit ~2 px above the ink)
    assert match.ground_truth == 25
    assert match.f1 >= 0.98, match
    assert all(ledger.from_ink for ledger in result.ledgers)


def test_a_chord_shares_its_ledger_lines_and_none_is_emitted_twice():
    # given the real page's placed noteheads, each note given twice (a unison chord)
    _, gray = real_page()
    result = real_result()
    doubled = result.notes + result.notes
    # when the ledger lines are rebuilt
    ledgers = rebuild_ledger_lines(gray, result.staves, doubled, EngravingRules())
    # then there are as many as for the single notes, and no two overlap
    assert len(ledgers) == len(result.ledgers)
    iou = box_iou(np.array([ledger.box for ledger in ledgers]), np.array([ledger.box for ledger in ledgers]))
    assert (iou[~np.eye(len(ledgers), dtype=bool)] < 0.3).all()


def test_ledger_lines_on_a_page_turned_by_one_and_a_half_degrees():
    turned, boxes, names, result = rotated_real()
    assert score(result, boxes, names, "ledgerLine").f1 >= 0.95


def test_synthetic_pages_ledger_lines_match_the_ground_truth(synthetic_dataset):
    # given synthetic pages (several fonts, chords); when rebuilt from their ground-truth noteheads
    total = synthetic_total(synthetic_dataset, "ledgerLine")
    # then F1 over the pages meets the goal
    assert total.ground_truth > 100
    assert total.f1 >= 0.98, total
