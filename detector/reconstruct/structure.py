"""Page structure: staves from the ink, then stems and ledger lines rebuilt from the noteheads.

``reconstruct_structure(gray, symbols)`` is the stage's entry point: it finds the staves,
measures the frame the input boxes are drawn in (``frame.py``), places each notehead on its
staff, rebuilds ledger lines and stems against the ink, and returns them together with the
input symbols as one list of ``Symbol`` in the input's frame, ready for COCO scoring.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from detector.reconstruct.binarize import binarize
from detector.reconstruct.frame import BoxFrame, estimate_box_frame
from detector.reconstruct.ledgers import (
    LedgerLine, NoteOnStaff, ledger_ink_present, ledger_positions, rebuild_ledger_lines,
)
from detector.reconstruct.rules import EngravingRules
from detector.reconstruct.staff import Staff, StaffDetection, StaffLocation, detect_staves, locate_candidates
from detector.reconstruct.stems import INK_SCORE, RULE_SCORE, Stem, end_stems_in_flags, rebuild_stems
from detector.reconstruct.symbols import Symbol, has_stem, is_notehead, symbols_to_coco_results

#: Input symbols of these classes are replaced by the reconstruction's own.
REPLACED_CLASSES = ("stem", "ledgerLine", "staff")


@dataclass
class StructureResult:
    """What reconstruction found on one page. Stem/ledger/note boxes are in the ink frame."""

    staff_detection: StaffDetection
    frame: BoxFrame
    notes: list[NoteOnStaff]  # noteheads placed on staves (ink-frame boxes)
    stems: list[Stem]
    ledgers: list[LedgerLine]
    symbols: list[Symbol]  # input symbols + rebuilt staff/stem/ledgerLine, in the input's frame
    skipped: Counter = field(default_factory=Counter)  # noteheads not used, by reason
    seconds: dict = field(default_factory=dict)  # time per step

    @property
    def staves(self) -> list[Staff]:
        return self.staff_detection.staves

    def rebuilt(self, class_name: str) -> list[Symbol]:
        """The rebuilt symbols of one class (``staff``, ``stem`` or ``ledgerLine``)."""
        return [s for s in self.symbols if s.class_name == class_name and (s.id or "").startswith("rebuilt")]

    def to_coco_results(self, image_id: int) -> list[dict]:
        """Every symbol as COCO results entries (DSv2 category ids), for ``eval.py``."""
        return symbols_to_coco_results(self.symbols, image_id)


def _half_spaces_outside(loc: StaffLocation) -> float:
    """How far outside its staff a location is, in half spaces (0 inside)."""
    return max(0.0, -loc.position, loc.position - 8.0)


def _choose_staff(
    gray: np.ndarray, staves: list[Staff], candidates: list[StaffLocation], box, rules: EngravingRules,
) -> StaffLocation:
    """Between two staves, the staff whose ledger lines the ink shows (ties: its grid, then the nearest).

    A note halfway between two staves is as far from either; the ledger lines that lead to
    it from its own staff are on the page, those from the other staff are not.
    """
    nearest = candidates[0]
    if len(candidates) < 2 or _half_spaces_outside(nearest) == 0:
        return nearest  # inside its staff
    ranked = []
    for order, loc in enumerate(candidates[:2]):
        needed = ledger_positions(int(round(loc.position)))
        staff = staves[loc.staff_index]
        support = 1.0 if not needed else float(np.mean(
            [ledger_ink_present(gray, staff, q, box[0], box[2], rules) for q in needed]
        ))
        # then: a note sits on its own staff's line/space grid, not between two of its positions
        off_grid = round(abs(loc.position - round(loc.position)), 1)
        ranked.append((-support, off_grid, order, loc))
    return min(ranked, key=lambda t: t[:3])[3]


def place_noteheads(
    gray: np.ndarray, staves: list[Staff], symbols: Sequence[Symbol], frame: BoxFrame, rules: EngravingRules,
    min_score: float,
) -> tuple[list[NoteOnStaff], Counter]:
    """Noteheads (score >= ``min_score``) on their staves, boxes moved into the ink frame."""
    notes, skipped = [], Counter()
    for s in symbols:
        if not is_notehead(s.class_name):
            continue
        if s.score < min_score:
            skipped["notehead below score threshold"] += 1
            continue
        box = frame.to_ink(s.box)
        candidates = locate_candidates(staves, 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3]))
        if not candidates:
            skipped["notehead on no staff"] += 1
            continue
        loc = _choose_staff(gray, staves, candidates, box, rules)
        notes.append(NoteOnStaff(box, s.class_name, loc.staff_index, int(round(loc.position)), s.id))
    return notes, skipped


def _rebuilt_symbols(result_parts, frame: BoxFrame, score_by_id: dict) -> list[Symbol]:
    """Staves, stems and ledger lines as ``Symbol`` in the annotation frame."""
    staves, stems, ledgers = result_parts
    out = [Symbol("staff", frame.to_boxes(st.box), 1.0, f"rebuilt-staff-{i}") for i, st in enumerate(staves)]
    for i, stem in enumerate(stems):
        note_score = max((score_by_id.get(n.symbol_id, 1.0) for n in stem.notes), default=1.0)
        base = INK_SCORE if stem.from_ink else RULE_SCORE
        out.append(Symbol("stem", frame.to_boxes(stem.box), base * note_score, f"rebuilt-stem-{i}"))
    for i, ledger in enumerate(ledgers):
        note_score = max((score_by_id.get(n, 1.0) for n in ledger.note_ids), default=1.0)
        base = INK_SCORE if ledger.from_ink else RULE_SCORE
        out.append(Symbol("ledgerLine", frame.to_boxes(ledger.box), base * note_score, f"rebuilt-ledger-{i}"))
    return out


def reconstruct_structure(
    gray: np.ndarray,
    symbols: Sequence[Symbol],
    rules: Optional[EngravingRules] = None,
    min_notehead_score: float = 0.3,
) -> StructureResult:
    """Staves, stems and ledger lines of one page; never raises on a page without staves.

    Args:
        gray: ``[H, W] uint8`` page, ink dark, paper white.
        symbols: the page's detections (or ground truth); noteheads drive the rebuild.
            Input ``stem``/``ledgerLine``/``staff`` symbols are replaced by the rebuilt ones.
        rules: engraving priors (defaults: Behind Bars / SMuFL values).
        min_notehead_score: detector noteheads below this are not used.
    """
    rules = rules or EngravingRules()
    t0 = time.perf_counter()
    ink = binarize(gray)
    t1 = time.perf_counter()
    detection = detect_staves(gray, ink)
    t2 = time.perf_counter()
    kept = [s for s in symbols if s.class_name not in REPLACED_CLASSES]
    if not detection.staves:
        seconds = {"binarize": t1 - t0, "staves": t2 - t1}
        return StructureResult(detection, BoxFrame(), [], [], [], kept, Counter(), seconds)
    frame = estimate_box_frame(detection.staves, kept)
    notes, skipped = place_noteheads(gray, detection.staves, kept, frame, rules, min_notehead_score)
    ledgers = rebuild_ledger_lines(gray, detection.staves, notes, rules)
    t3 = time.perf_counter()
    stems = rebuild_stems(gray, ink, detection.staves, [n for n in notes if has_stem(n.class_name)], rules)
    flags = [(s.class_name, frame.to_ink(s.box)) for s in kept if s.class_name.startswith("flag")]
    end_stems_in_flags(stems, flags, detection.staves, rules)
    t4 = time.perf_counter()
    score_by_id = {s.id: s.score for s in kept if s.id is not None}
    rebuilt = _rebuilt_symbols((detection.staves, stems, ledgers), frame, score_by_id)
    seconds = {"binarize": t1 - t0, "staves": t2 - t1, "ledgers": t3 - t2, "stems": t4 - t3}
    return StructureResult(detection, frame, notes, stems, ledgers, kept + rebuilt, skipped, seconds)
