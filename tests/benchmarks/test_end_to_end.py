"""The end-to-end measure: note error rates of a recognised page against its true music."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from detector.benchmarks.end_to_end import PartCounts, page_kind, score_page
from detector.reconstruct.reading import read_score
from detector.reconstruct.structure import reconstruct_structure
from detector.reconstruct.symbols import Symbol

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reconstruct"))
from handmade import HandPage  # noqa: E402


def _truth(pitches: list[tuple[str, int]], durations: list[float]) -> dict:
    """True music of one staff, one part: a note per (step, octave), one measure."""
    notes, onset = [], 0.0
    for k, ((step, octave), dur) in enumerate(zip(pitches, durations)):
        notes.append({"ann_id": str(k), "staff": 0, "measure": 7, "order": k, "onset_quarters": onset,
                      "step": step, "octave": octave, "alter": 0, "dur_quarters": dur, "dots": 0,
                      "rest": False, "chord": False, "grace": False, "voice": 1})
        onset += dur
    return {"piece": "corpus/test.mxl", "notes": notes,
            "staves": [{"index": 0, "part": 0, "staff_in_part": 0, "y0": 100.0, "y1": 180.0}]}


def _read(positions: list[int]):
    page = HandPage()
    page.clef("clefG")
    for k, position in enumerate(positions):
        page.note(200 + 80 * k, position, stem="up" if position < 4 else "down")
    page.barline(200 + 80 * len(positions))
    names, boxes = page.arrays()
    heads = iter(range(len(names)))  # noteheads carry the true notes' ids: "0", "1", ...
    symbols = [Symbol(n, tuple(b), 1.0, str(next(heads)) if n.startswith("notehead") else None)
               for n, b in zip(names, boxes)]
    structure = reconstruct_structure(page.gray, symbols, staves=page.staves)
    return read_score(structure), [s.id for s in structure.symbols]


@pytest.mark.parametrize("positions, pitch_errors",
                         [([-2, -1, 0, 1], 0), ([-2, -1, 0, 2], 1), ([-2, 0, 1], 1)])
def test_note_error_rate_counts_wrong_and_missing_notes(positions, pitch_errors):
    # given the true C4 D4 E4 F4 in quarters; a page read right, with F4 read as G4, or without D4
    truth = _truth([("C", 4), ("D", 4), ("E", 4), ("F", 4)], [1.0] * 4)
    score, ids = _read(positions)
    # when it is scored, then each wrong or missing note is one edit out of four
    rates = score_page(score, ids, truth).rates()
    assert rates["note_error_rate_pitch"] == pytest.approx(pitch_errors / 4)
    assert rates["note_error_rate_pitch_duration"] == pytest.approx(pitch_errors / 4)


def test_a_wrong_duration_counts_only_in_the_pitch_and_duration_rate():
    # given a true half note where the page has a quarter
    truth = _truth([("C", 4), ("D", 4), ("E", 4), ("F", 4)], [1.0, 1.0, 1.0, 2.0])
    score, ids = _read([-2, -1, 0, 1])
    rates = score_page(score, ids, truth).rates()
    assert rates["note_error_rate_pitch"] == 0.0
    assert rates["note_error_rate_pitch_duration"] == pytest.approx(0.25)
    assert rates["pitch_accuracy"] == 1.0


def test_page_kinds_and_sums():
    piano = {"piece": "corpus/x.mxl",
             "staves": [{"index": 0, "part": 0, "staff_in_part": 0},
                        {"index": 1, "part": 0, "staff_in_part": 1}]}
    solo_systems = {"piece": "corpus/y.abc",
                    "staves": [{"index": k, "part": 0, "staff_in_part": 0} for k in range(3)]}
    assert page_kind(piano, None).kind == "piano"
    assert page_kind(solo_systems, None).kind == "solo"
    assert page_kind({"piece": "procedural/1/2/0", "staves": []}, None).kind == "procedural"
    total = PartCounts(pitch_edits=1, true_tokens=4, pages=1)
    total.add(PartCounts(pitch_edits=1, true_tokens=6, pages=1))
    assert total.rates()["note_error_rate_pitch"] == pytest.approx(0.2)


def test_the_shipped_detectors_training_pieces_are_a_saved_list(tmp_path):
    """--exclude-train-of weights/trained_pieces.json works without the training data on disk."""
    from pathlib import Path

    from detector.benchmarks.end_to_end import trained_pieces

    shipped = trained_pieces([Path(__file__).parents[2] / "weights" / "trained_pieces.json"])
    assert len(shipped) > 200 and "corpus/liliuokalani/aloha_oe.mxl" in shipped
    saved = tmp_path / "pieces.json"
    saved.write_text('{"pieces": ["corpus/a.mxl", "corpus/b.krn"]}')
    assert trained_pieces([saved]) == {"corpus/a.mxl", "corpus/b.krn"}
