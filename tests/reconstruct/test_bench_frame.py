"""The structure benchmark scores a detector's rebuilt boxes in the ground truth's own frame.

DSv2's boxes sit ~2.4 px above the ink on the sample page; a detector trained on synthetic
pages draws ink-tight boxes. Simulated here by moving the real page's ground-truth symbols
onto the ink (2.4 px down): the rebuilt ledger lines (4.5 px high) then only match the ground
truth once moved back into its frame.
"""
from __future__ import annotations

from detector.benchmarks.structure_bench import BenchTotals, _gt_symbols, bench_page
from detector.reconstruct.symbols import Symbol
from tests.reconstruct.structure_pages import real_page


def test_ink_tight_noteheads_are_scored_in_the_ground_truths_frame():
    page, gray = real_page()
    truth = _gt_symbols(page)
    ink_tight = [Symbol(s.class_name, (s.box[0], s.box[1] + 2.4, s.box[2], s.box[3] + 2.4), s.score, s.id)
                 for s in truth]
    as_is, aligned = BenchTotals(), BenchTotals()
    bench_page(gray, page.boxes, page.class_names, ink_tight, as_is)
    bench_page(gray, page.boxes, page.class_names, ink_tight, aligned, truth_symbols=truth)
    assert as_is.scores["ledgerLine"].f1 < 0.8  # the offset alone breaks IoU >= 0.5
    assert aligned.scores["ledgerLine"].f1 >= 0.98
    assert aligned.scores["stem"].f1 >= 0.95
