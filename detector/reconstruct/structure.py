"""Page structure: staves from the ink, then stems and ledger lines rebuilt from the noteheads.

``reconstruct_structure(gray, symbols)`` is the stage's entry point and the only place where
the page's geometry is decided: it binarises the page once, finds the staves, measures the
frame the input boxes are drawn in (``frame.py``), places each notehead on its staff (or
rejects it: a notehead far from the staff with no ledger line under it, or a stemmed
notehead whose stem the ink does not show, is text or noise, not a note), rebuilds ledger
lines and stems against the ink, and gives every other symbol the staff it is read on.
The music step (``reading.py``) reads this one typed result and never decides again which
staff a symbol is on or which stem a notehead has.
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
from detector.reconstruct.symbols import Symbol, boxes_of, has_stem, is_notehead, symbols_to_coco_results

#: Input symbols of these classes are replaced by the reconstruction's own.
REPLACED_CLASSES = ("stem", "ledgerLine", "staff")


@dataclass
class StructureResult:
    """What the structure step decided about one page: the music step reads only this.

    ``symbols`` are the input symbols that are kept plus the rebuilt staves, stems and ledger
    lines, in the input's frame (for COCO scoring); ``ink_boxes`` are the same boxes in the ink
    frame, where the page shows them; ``staff_of`` says on which staff each symbol is read.
    """

    staff_detection: StaffDetection
    frame: BoxFrame
    notes: list[NoteOnStaff]  # noteheads placed on staves (ink-frame boxes, ``symbol_index`` set)
    stems: list[Stem]  # with their noteheads and direction (``symbol_index`` set)
    ledgers: list[LedgerLine]
    symbols: list[Symbol]  # input symbols + rebuilt staff/stem/ledgerLine, in the input's frame
    skipped: Counter = field(default_factory=Counter)  # noteheads not used, by reason
    seconds: dict = field(default_factory=dict)  # time per step
    ink: Optional[np.ndarray] = None  # [H, W] bool, True = ink: the page's one binarisation
    # [N, 4]: the boxes of ``symbols`` in the ink frame
    ink_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    staff_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=int))  # [N] staff index, -1: none
    rules: EngravingRules = field(default_factory=EngravingRules)  # the thresholds used; the music step's too

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
    """Noteheads (score >= ``min_score``) on their staves, boxes moved into the ink frame.

    A notehead that needs ledger lines (outside the staff) is kept only when the ink shows the
    one nearest its staff: every engraved note above or below the staff stands on its ledger
    lines, while a metronome mark's note, a letter of a title or of the lyrics does not.
    """
    notes, skipped = [], Counter()
    for index, s in enumerate(symbols):
        if not is_notehead(s.class_name):
            continue
        if s.score < min_score:
            skipped["notehead below score threshold"] += 1
            continue
        box = frame.to_ink(s.box)
        candidates = locate_candidates(staves, 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3]),
                                       rules.notehead_max_outside_sp)
        if not candidates:
            skipped["notehead on no staff"] += 1
            continue
        loc = _choose_staff(gray, staves, candidates, box, rules)
        position = int(round(loc.position))
        needed = ledger_positions(position)
        if needed and not ledger_ink_present(gray, staves[loc.staff_index], needed[0], box[0], box[2], rules):
            skipped["notehead off the staff with no ledger line"] += 1
            continue
        notes.append(NoteOnStaff(box, s.class_name, loc.staff_index, position, s.id, index))
    return notes, skipped


def drop_stemless_notes(notes: list[NoteOnStaff], stems: list[Stem], skipped: Counter) -> tuple[list, list]:
    """Notes whose class carries a stem but whose stem the ink does not show are not notes.

    The stem rule proposes a stem for every such notehead; when no stem of its chord was seen
    in the ink, the notehead is a letter, a digit or a blot the detector took for a notehead
    (titles, lyrics and fingerings have no stems). Whole notes never need one.
    """
    unconfirmed = {id(n) for s in stems if not s.from_ink for n in s.notes}
    kept_notes = [n for n in notes if id(n) not in unconfirmed]
    skipped["notehead whose stem the ink does not show"] += len(notes) - len(kept_notes)
    return kept_notes, [s for s in stems if s.from_ink]


#: Octave marks printed on a clef (an 8 or 15 under a tenor's treble clef).
CLEF_OCTAVE_MARKS = ("clef8", "clef15")


def follow_clefs(symbols: Sequence[Symbol], ink_boxes: np.ndarray, staff_of: np.ndarray) -> None:
    """An octave mark is on the staff of the clef it touches, not the nearest staff (in place);
    between two clefs, on the staff of the clef it hangs under.

    The 8 under a treble clef hangs below its staff, often nearer the middle of the next staff
    down (a tenor line above a bass line): by distance alone it would turn the bass clef below
    into an octave clef and leave the tenor's clef without its octave.
    """
    clefs = [k for k, s in enumerate(symbols) if s.class_name.startswith("clef")
             and s.class_name not in CLEF_OCTAVE_MARKS]
    for k, s in enumerate(symbols):
        if s.class_name not in CLEF_OCTAVE_MARKS:
            continue
        x0, y0, x1, y1 = ink_boxes[k]
        touching = [c for c in clefs if ink_boxes[c][0] <= x1 and x0 <= ink_boxes[c][2]]
        # a mark between two clefs hangs from the one above (an "8" under a tenor's treble clef;
        # the clef below may even be boxed over it): the clef above within a mark's height wins
        hanging = [c for c in touching if (ink_boxes[c][1] + ink_boxes[c][3]) / 2 < (y0 + y1) / 2
                   and y0 - ink_boxes[c][3] <= y1 - y0]
        candidates = hanging or touching
        if candidates:
            gap = [max(ink_boxes[c][1] - y1, y0 - ink_boxes[c][3], 0.0) for c in candidates]
            staff_of[k] = staff_of[candidates[int(np.argmin(gap))]]


#: Rests drawn as a block (whole, half, double whole, multi-bar): an articulation above or
#: below the staff (a down-bow, a tenuto, a fermata's bar) has the same dark rectangle.
BLOCK_RESTS = ("restWhole", "restHalf", "restDoubleWhole", "restHBar")


def articulations_read_as_rests(symbols: Sequence[Symbol], frame: BoxFrame, staves: list[Staff],
                                skipped: Counter) -> set[int]:
    """Indices of block rests that lie wholly outside their staff: articulations, not rests.

    A block rest hangs from a staff line (a voice's shifted rest from the top or bottom line)
    so its box always reaches into the staff; a down-bow or a tenuto above the notes does not.
    """
    rests = [k for k, s in enumerate(symbols) if s.class_name in BLOCK_RESTS]
    if not rests:
        return set()
    boxes = np.array([frame.to_ink(symbols[k].box) for k in rests], dtype=float).reshape(-1, 4)
    owners = nearest_staff(staves, boxes)
    out = set()
    for k, box, owner in zip(rests, boxes, owners):
        cx = 0.5 * (box[0] + box[2])
        low, high = (float(staves[owner].position(cx, y)) for y in (box[3], box[1]))
        if low > 8.5 or high < -0.5:
            out.add(k)
    skipped["block rest outside its staff (an articulation)"] += len(out)
    return out


def nearest_staff(staves: list[Staff], boxes: np.ndarray) -> np.ndarray:
    """Index of the staff whose middle line is nearest each box centre (half spaces). -> [N]."""
    if len(staves) == 0 or len(boxes) == 0:
        return np.full(len(boxes), -1)
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2.0, (boxes[:, 1] + boxes[:, 3]) / 2.0
    dist = np.stack([np.abs(np.asarray(s.position(cx, cy), dtype=float) - 4.0) for s in staves])  # [S, N]
    return np.argmin(dist, axis=0)


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


def _symbols_on_staves(
    kept: list[Symbol], notes: list[NoteOnStaff], stems: list[Stem], ledgers: list[LedgerLine],
    frame: BoxFrame, staves: list[Staff], skipped: Counter,
) -> tuple[list[Symbol], np.ndarray, np.ndarray]:
    """The page's symbols for the music step, their ink-frame boxes [N, 4] and staff [N].

    Noteheads that are not notes and block rests that are not rests leave the page's music
    (and its COCO output) here; notes and stems get their ``symbol_index``; each symbol's
    staff is its note's or stem's, an octave mark's clef's, else the nearest.
    """
    placed = {n.symbol_index for n in notes}
    not_rests = articulations_read_as_rests(kept, frame, staves, skipped)
    index_map, used = {}, []
    for k, s in enumerate(kept):
        if (not is_notehead(s.class_name) or k in placed) and k not in not_rests:
            index_map[k] = len(used)
            used.append(s)
    for n in notes:
        n.symbol_index = index_map[n.symbol_index]
    score_by_id = {s.id: s.score for s in used if s.id is not None}
    all_symbols = used + _rebuilt_symbols((staves, stems, ledgers), frame, score_by_id)
    ink_boxes = np.array([frame.to_ink(s.box) for s in all_symbols], dtype=float).reshape(-1, 4)
    staff_of = nearest_staff(staves, ink_boxes)
    follow_clefs(all_symbols, ink_boxes, staff_of)
    for n in notes:
        staff_of[n.symbol_index] = n.staff_index
    first_stem = len(used) + len(staves)  # rebuilt symbols: staves, then stems, then ledger lines
    for k, stem in enumerate(stems):
        stem.symbol_index = first_stem + k
        staff_of[stem.symbol_index] = stem.staff_index
    for k, ledger in enumerate(ledgers):
        staff_of[first_stem + len(stems) + k] = ledger.staff_index
    for k in range(len(staves)):
        staff_of[len(used) + k] = k
    return all_symbols, ink_boxes, staff_of


def reconstruct_structure(
    gray: np.ndarray,
    symbols: Sequence[Symbol],
    rules: Optional[EngravingRules] = None,
    min_notehead_score: float = 0.3,
    staves: Optional[list[Staff]] = None,
) -> StructureResult:
    """Staves, stems, ledger lines and each symbol's staff on one page; never raises on a page without staves.

    Args:
        gray: ``[H, W] uint8`` page, ink dark, paper white.
        symbols: the page's detections (or ground truth); noteheads drive the rebuild.
            Input ``stem``/``ledgerLine``/``staff`` symbols are replaced by the rebuilt ones.
        rules: every threshold of reconstruction (defaults: Behind Bars / SMuFL values and the
            values tuned on synthetic pages); kept in the result for the music step.
        min_notehead_score: detector noteheads below this are not used.
        staves: the page's staves when already known (a hand-drawn test page); found in the ink otherwise.
    """
    rules = rules or EngravingRules()
    t0 = time.perf_counter()
    ink = binarize(gray)
    t1 = time.perf_counter()
    detection = detect_staves(gray, ink, rules=rules) if staves is None else StaffDetection(
        sorted(staves, key=lambda s: float(np.mean(s.line_ys[2]))), "" if staves else "no staves given")
    t2 = time.perf_counter()
    kept = [s for s in symbols if s.class_name not in REPLACED_CLASSES]
    if not detection.staves:
        seconds = {"binarize": t1 - t0, "staves": t2 - t1}
        return StructureResult(detection, BoxFrame(), [], [], [], kept, Counter(), seconds, ink,
                               boxes_of(kept), np.full(len(kept), -1), rules)
    frame = estimate_box_frame(detection.staves, kept, rules)
    notes, skipped = place_noteheads(gray, detection.staves, kept, frame, rules, min_notehead_score)
    t3 = time.perf_counter()
    stems = rebuild_stems(gray, ink, detection.staves, [n for n in notes if has_stem(n.class_name)], rules)
    notes, stems = drop_stemless_notes(notes, stems, skipped)
    flags = [(s.class_name, frame.to_ink(s.box)) for s in kept if s.class_name.startswith("flag")]
    end_stems_in_flags(stems, flags, detection.staves, rules)
    ledgers = rebuild_ledger_lines(gray, detection.staves, notes, rules)
    t4 = time.perf_counter()
    all_symbols, ink_boxes, staff_of = _symbols_on_staves(
        kept, notes, stems, ledgers, frame, detection.staves, skipped)
    seconds = {"binarize": t1 - t0, "staves": t2 - t1, "noteheads": t3 - t2, "stems+ledgers": t4 - t3}
    return StructureResult(detection, frame, notes, stems, ledgers, all_symbols, skipped, seconds, ink,
                           ink_boxes, staff_of, rules)
