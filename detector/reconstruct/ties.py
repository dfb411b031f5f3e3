"""Ties: a curve from one notehead to the next notehead of the same pitch holds the note on.

The detector boxes a tie (`tie`, a class of its own, unlike a slur); its box runs from just
right of the first notehead to just left of the second, a little above or below them. A tie
whose end has no notehead (the end of a system, or a tie coming from the previous system) is
a start or a stop alone. Ties never change durations here: the tied notes stay two notes,
as MusicXML writes them (`<tie>` and `<tied>` on each).
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from detector.reconstruct.music import NoteEvent, StaffMusic

#: A tie's end lies within this many staff spaces (x) of the notehead it starts or ends at.
TIE_END_REACH_SP = 1.5
#: ... and the tie's box centre within this many staff spaces (y) of that notehead's centre.
TIE_HEIGHT_REACH_SP = 1.6


def _heads(music: StaffMusic) -> list[tuple[NoteEvent, int, np.ndarray]]:
    """(event, index of the head in the event, head box) of every sounding notehead on the staff."""
    return [(e, k, np.asarray(box)) for m in music.measures for e in m.events if not e.grace
            for k, box in enumerate(e.head_boxes)]


def _nearest(heads, x: float, y: float, ss: float, side: str) -> Optional[tuple[NoteEvent, int, np.ndarray]]:
    """The notehead whose right (side='start') or left (side='stop') edge is nearest x, near height y."""
    best, best_d = None, None
    for head in heads:
        box = head[2]
        edge = box[2] if side == "start" else box[0]
        dx, dy = abs(edge - x), abs(0.5 * (box[1] + box[3]) - y)
        if dx <= TIE_END_REACH_SP * ss and dy <= TIE_HEIGHT_REACH_SP * ss and (best_d is None or dx < best_d):
            best, best_d = head, dx
    return best


def read_ties(music: StaffMusic, tie_boxes: Sequence[np.ndarray]) -> int:
    """Mark the tied notes of one staff (``event.ties``, in place); returns the ties placed.

    tie_boxes: [T, 4] ink-frame boxes of the staff's `tie` symbols.
    """
    ss = float(music.staff.staff_space_px)
    heads = _heads(music)
    placed = 0
    for box in tie_boxes:
        cy = 0.5 * (box[1] + box[3])
        start = _nearest(heads, box[0], cy, ss, "start")
        stop = _nearest(heads, box[2], cy, ss, "stop")
        if start is not None and stop is not None:
            same = start[0].pitches[start[1]].midi() == stop[0].pitches[stop[1]].midi()
            if not same or stop[0] is start[0]:
                continue  # a slur boxed as a tie, or two notes of one chord: not a tie
        ends = [(end, kind) for end, kind in ((start, "start"), (stop, "stop")) if end is not None]
        for (event, k, _), kind in ends:
            event.ties.setdefault(event.head_ids[k], set()).add(kind)
        placed += bool(ends)
    return placed
