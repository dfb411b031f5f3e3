"""Score recognised music against a synthetic page's ground truth (`music/<stem>.json`).

- pitch / duration accuracy: each true note (rest, for duration) is linked to the notehead
  (rest) symbol it was read from: by annotation id for ground-truth symbols, by box IoU >= 0.5
  for detections; a true note with no linked prediction counts as wrong.
- note F1: a predicted note matches a true one when page staff, measure (counted from the
  staff's first), order within the measure (dense onset rank; chord notes share it) and
  pitch agree.
- measure count accuracy: staves whose number of measures is right.
- symbol error rate (OMR-NED style): edit distance between the predicted and true token
  sequences of each staff (one token per note/rest: pitch and duration; '|' per barline),
  summed over staves and divided by the true sequences' total length.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional, Sequence

import numpy as np

from detector.reconstruct.music import Score
from detector.reconstruct.pitch import Pitch


class SummedCounts:
    """A dataclass of counts that adds up over pages field by field (`add`)."""

    def add(self, other: "SummedCounts") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class MusicCounts(SummedCounts):
    """Sums over pages, turned into rates by `summary`."""

    pitch_right: int = 0
    pitch_total: int = 0
    duration_right: int = 0
    duration_total: int = 0
    matched: int = 0
    predicted: int = 0
    true: int = 0
    staves_measures_right: int = 0
    staves: int = 0
    edits: int = 0
    true_tokens: int = 0
    pitch_errors: Counter = field(default_factory=Counter)

    def summary(self) -> dict[str, float]:
        precision = self.matched / max(self.predicted, 1)
        recall = self.matched / max(self.true, 1)
        return {
            "pitch_accuracy": self.pitch_right / max(self.pitch_total, 1),
            "duration_accuracy": self.duration_right / max(self.duration_total, 1),
            "note_precision": precision,
            "note_recall": recall,
            "note_f1": 2 * precision * recall / max(precision + recall, 1e-9),
            "measure_count_accuracy": self.staves_measures_right / max(self.staves, 1),
            "symbol_error_rate": self.edits / max(self.true_tokens, 1),
            "true_notes": self.pitch_total,
        }


def _true_pitch(note: dict) -> Pitch:
    return Pitch(note["step"], int(note["octave"]), int(note["alter"] or 0))


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance between two token sequences."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def staff_map(score: Score, true_staves: list[dict]) -> dict[int, int]:
    """Predicted page staff index -> true staff index, by the middle line inside [y0, y1]."""
    mapping = {}
    for s in score.staves:
        y = float(np.mean(s.staff.line_ys[2]))
        best = min(true_staves, key=lambda t: abs(0.5 * (t["y0"] + t["y1"]) - y), default=None)
        if best is not None and best["y0"] - 5 <= y <= best["y1"] + 5:
            mapping[s.index] = best["index"]
    return mapping


def predicted_notes(score: Score, symbol_ids: Sequence[Optional[str]], staves: dict[int, int]) -> list[dict]:
    """Flat list of the recognised notes and rests with staff/measure/order and linked ids."""
    notes = []
    for staff in score.staves:
        if staff.index not in staves:
            continue
        for m, measure in enumerate(staff.measures):
            order = 0
            for event in measure.events:
                if event.grace:
                    continue
                base = {"staff": staves[staff.index], "measure": m, "order": order}
                if event.is_rest:
                    notes.append({**base, "pitch": None, "dur": event.duration,
                                  "id": symbol_ids[event.symbol_id]})
                for k, pitch in enumerate(event.pitches):
                    notes.append({**base, "pitch": pitch, "dur": event.head_durations[k],
                                  "id": symbol_ids[event.head_ids[k]]})
                order += 1
    return notes


def score_page(score: Score, symbol_ids: Sequence[Optional[str]], truth: dict) -> MusicCounts:
    """Counts for one page. symbol_ids: per symbol index of the score, the annotation id
    of the true symbol it stands for (None when it matches none)."""
    counts = MusicCounts()
    true_notes = [n for n in truth["notes"] if not n["grace"]]
    staves = staff_map(score, truth["staves"])
    predicted = predicted_notes(score, symbol_ids, staves)
    by_id = {p["id"]: p for p in predicted if p["id"] is not None}
    # measures renumbered from each staff's first, as the prediction counts them
    first_measure = {}
    for n in true_notes:
        first_measure[n["staff"]] = min(first_measure.get(n["staff"], n["measure"]), n["measure"])
    measure_rank = {}
    for s in {n["staff"] for n in true_notes}:
        ms = sorted({n["measure"] for n in true_notes if n["staff"] == s})
        measure_rank.update({(s, m): k for k, m in enumerate(ms)})
    for n in true_notes:
        p = by_id.get(n["ann_id"])
        counts.duration_total += 1
        if p is not None and Fraction(p["dur"]) == Fraction(n["dur_quarters"]).limit_denominator(256):
            counts.duration_right += 1
        if n["rest"]:
            continue
        counts.pitch_total += 1
        if p is not None and p["pitch"] is not None and p["pitch"] == _true_pitch(n):
            counts.pitch_right += 1
        elif p is not None and p["pitch"] is not None:
            counts.pitch_errors[f"{_true_pitch(n).name()}->{p['pitch'].name()}"] += 1
    true_keys = Counter((n["staff"], measure_rank[(n["staff"], n["measure"])], n["order"], _true_pitch(n))
                        for n in true_notes if not n["rest"])
    pred_keys = Counter((p["staff"], p["measure"], p["order"], p["pitch"]) for p in predicted if p["pitch"])
    counts.true, counts.predicted = sum(true_keys.values()), sum(pred_keys.values())
    counts.matched = sum((true_keys & pred_keys).values())
    for s in sorted({n["staff"] for n in true_notes}):
        true_measures = len({n["measure"] for n in true_notes if n["staff"] == s})
        pred_measures = max((len(st.measures) for st in score.staves if staves.get(st.index) == s), default=0)
        counts.staves += 1
        counts.staves_measures_right += int(true_measures == pred_measures)
        truth_tokens = _tokens([(measure_rank[(s, n["measure"])], n["order"], None if n["rest"] else _true_pitch(n),
                                 Fraction(n["dur_quarters"]).limit_denominator(256)) for n in true_notes if n["staff"] == s])
        pred_tokens = _tokens([(p["measure"], p["order"], p["pitch"], Fraction(p["dur"])) for p in predicted if p["staff"] == s])
        counts.edits += edit_distance(pred_tokens, truth_tokens)
        counts.true_tokens += len(truth_tokens)
    return counts


def _tokens(notes: list[tuple]) -> list[str]:
    """'|' between measures, then one 'pitch:duration' token per note in time order."""
    tokens, last = [], None
    for measure, order, pitch, dur in sorted(notes, key=lambda n: (n[0], n[1], n[2].midi() if n[2] else -1)):
        if last is not None and measure != last:
            tokens.append("|")
        last = measure
        tokens.append(f"{pitch.name() if pitch else 'r'}:{dur}")
    return tokens


def link_by_iou(pred_boxes: np.ndarray, true_boxes: np.ndarray, true_ids: Sequence[str],
                min_iou: float = 0.5) -> list[Optional[str]]:
    """For each predicted box, the id of the true box it overlaps best (IoU >= min_iou)."""
    if len(pred_boxes) == 0 or len(true_boxes) == 0:
        return [None] * len(pred_boxes)
    import torch
    from torchvision.ops import box_iou

    iou = box_iou(torch.as_tensor(pred_boxes, dtype=torch.float32),
                  torch.as_tensor(true_boxes, dtype=torch.float32)).numpy()  # [P, T]
    best = iou.argmax(1)
    return [true_ids[b] if iou[i, b] >= min_iou else None for i, b in enumerate(best)]
