"""Doubtful places of a recognised page: the bars a reader should compare with the scan first.

Most recognition errors announce themselves in the music itself: a lost or misread note leaves
a bar that does not fill its time signature, a lost barline leaves a staff whose barlines do
not line up with the rest of its system, a missed clef spells a whole staff in the treble clef.
``find_doubts`` reads one page's result (``pipeline.PageResult``) and names each such place,
with the bar it lies in. A bar is one column of a system: bar ``j`` of system ``s`` is the
``j``-th measure of every staff of that system (what ``Part.measure_rows`` writes to MusicXML).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional, Sequence

import numpy as np

from detector.reconstruct.music import AttributeChange, Measure, Score, StaffMusic
from detector.reconstruct.pitch import CLEFS
from detector.reconstruct.symbols import has_stem
from detector.reconstruct.systems import group_systems

#: Two barlines of one system closer than this (staff spaces) are the same barline: the
#: engraver draws a system's barlines through all its staves at one x.
BARLINE_ALIGN_SS = 1.0

#: A dropped notehead this far from the staff's middle line (half spaces) or nearer is doubtful:
#: within the staff and one space beyond, text (lyrics, titles, fingerings) is rarely set, so a
#: notehead there that was dropped for lack of a stem is more likely a note than a letter.
DROPPED_NEAR_STAFF_HALF_SPACES = 6.0

#: Detections at or above this score but below the operating threshold are shown as doubtful;
#: lower ones are the detector's noise. On the DSv2 sample page the shipped model leaves out 606
#: boxes in [0.25, 0.5) (103 of music classes, none a missed symbol: every bar there adds up)
#: and 10 in [0.4, 0.5) (the README's threshold study: precision 0.24 at 0.3).
LOW_SCORE_FLOOR = 0.4

#: Left-out classes that only change durations: one is doubtful only in a bar that does not add
#: up (there it may be the missing note or rest); in a bar that does, it is noise.
RHYTHM_CLASS_PREFIXES = ("notehead", "rest", "flag", "augmentationDot", "tuplet")

#: The operating threshold when the symbols did not come from a checkpoint (configs: eval.score_thresh).
DEFAULT_SCORE_THRESH = 0.5

#: Doubt kinds, in the order the report lists them, with a short label.
KINDS = {
    "duration": "bar does not fill the time signature",
    "barline": "barlines do not line up with the other staves",
    "stem": "notehead with no stem where one is expected",
    "clef": "no clef on the staff",
    "key": "key signature missing on the staff",
    "bar-count": "parts have different bar counts",
    "low-score": "low-confidence symbol",
}


@dataclass
class Doubt:
    """One doubtful place; ``bar`` is the bar (system column) it lies in, None for a whole part."""

    kind: str  # a key of KINDS
    text: str  # what is wrong, for the reader
    system: int = -1
    bar: Optional[int] = None
    staff: int = -1  # page staff index (-1: none)
    part: Optional[str] = None
    box: Optional[tuple[float, float, float, float]] = None  # ink-frame box to mark on the scan


@dataclass
class SystemLayout:
    """One system of the page: its staves, and where each of its bars lies on each staff."""

    index: int
    groups: list[list[StaffMusic]]  # one staff group per part, top to bottom
    parts: list[str]  # part id of each group
    spans: dict[int, list[tuple[float, float]]]  # staff index -> [bar] (x0, x1) in ink px
    first_bar: int  # bar number of its first bar (the page's printed first bar number, else 1)

    @property
    def staves(self) -> list[StaffMusic]:
        return [s for group in self.groups for s in group]

    @property
    def bar_count(self) -> int:
        return max((len(s.measures) for s in self.staves), default=0)


@dataclass
class PageDoubts:
    """Every doubt of a page, and the systems they are placed in."""

    systems: list[SystemLayout]
    doubts: list[Doubt] = field(default_factory=list)

    def marked_bars(self) -> set[tuple[int, int]]:
        """(system, bar) of every bar holding at least one doubt."""
        return {(d.system, d.bar) for d in self.doubts if d.bar is not None}

    def bar_count(self) -> int:
        return sum(s.bar_count for s in self.systems)

    def doubtful_bars_by_part(self) -> dict[str, tuple[int, int]]:
        """part id -> (doubtful bars, bars) over the page."""
        out: dict[str, list[int]] = {}
        for system in self.systems:
            for pid, group in zip(system.parts, system.groups):
                staves = {s.index for s in group}
                bars = max((len(s.measures) for s in group), default=0)
                marked = {d.bar for d in self.doubts if d.system == system.index and d.bar is not None
                          and (d.staff in staves or d.part == pid)}
                counts = out.setdefault(pid, [0, 0])
                counts[0] += len(marked)
                counts[1] += bars
        return {pid: (c[0], c[1]) for pid, c in out.items()}


# --------------------------------------------------------------------------- layout


def measure_spans(music: StaffMusic) -> list[tuple[float, float]]:
    """x range (ink px) of each measure of a staff: from the barline before its first event to
    the barline after its last (the staff's ends where there is none)."""
    staff = music.staff
    start, end = float(staff.xs[0]), float(staff.xs[-1])
    bars = sorted(music.barlines)
    spans = []
    for measure in music.measures:
        xs = [x for e in measure.events for box in (e.head_boxes or [e.box]) if box is not None
              for x in (float(box[0]), float(box[2]))] or [e.x for e in measure.events]
        lo, hi = min(xs), max(xs)
        left = max([b for b in bars if b <= lo], default=start)
        right = min([b for b in bars if b >= hi], default=end)
        spans.append((left, right))
    return spans


def system_layouts(score: Score, structure) -> list[SystemLayout]:
    """The page's systems, top to bottom, as ``systems.group_systems`` found them for the score's parts."""
    names = [s.class_name for s in structure.symbols]
    part_of = {s.index: part.id for part in score.parts for group in part.systems for s in group}
    layouts, bar = [], score.first_measure  # as printed (margin_text.py), else 1
    for k, groups in enumerate(group_systems(structure.ink, score.staves, names, structure.ink_boxes)):
        spans = {s.index: measure_spans(s) for g in groups for s in g}
        layout = SystemLayout(k, groups, [part_of.get(g[0].index, "?") for g in groups], spans, bar)
        layouts.append(layout)
        bar += layout.bar_count
    return layouts


def bar_at(layout: SystemLayout, staff: int, x: float) -> Optional[int]:
    """The bar of the system that holds x on a staff (nearest bar when x falls between)."""
    spans = layout.spans.get(staff) or []
    if not spans:
        return None
    distance = [0.0 if x0 <= x <= x1 else min(abs(x - x0), abs(x - x1)) for x0, x1 in spans]
    return int(np.argmin(distance))


# --------------------------------------------------------------------------- checks


def _bar_length(time: Optional[tuple[int, int]]) -> Optional[Fraction]:
    return Fraction(4 * time[0], time[1]) if time else None


def _voice_lengths(measure: Measure) -> dict[int, Fraction]:
    return {v: sum((e.duration for e in measure.events if e.voice == v and not e.grace), Fraction(0))
            for v in measure.voices()}


def _fmt(q: Fraction) -> str:
    return f"{float(q):g}" if q.denominator in (1, 2, 4, 8) else str(q)


@dataclass
class _Bar:
    """One staff's bar as the duration check sees it."""

    layout: SystemLayout
    staff: StaffMusic
    j: int  # index in the staff's measures (the system's bar)
    lengths: dict[int, Fraction]  # voice -> quarters
    expected: Optional[Fraction]  # the time signature in force, in quarters

    @property
    def first(self) -> Fraction:
        return self.lengths[min(self.lengths)]


def _part_staff_runs(score: Score, layouts: Sequence[SystemLayout]) -> list[list[_Bar]]:
    """Each part staff's bars through the page's systems in order, with the time in force.

    A time signature is printed once and holds on the same part's staff in the systems below
    (voices of early music may even run in different meters at once), so the time is carried
    per part staff, starting from the score's.
    """
    runs: dict[tuple[str, int], list[_Bar]] = {}
    times: dict[tuple[str, int], Optional[tuple[int, int]]] = {}
    for layout in layouts:
        for pid, group in zip(layout.parts, layout.groups):
            for k, staff in enumerate(group):
                key = (pid, k)
                for j, measure in enumerate(staff.measures):
                    for item in measure.items:
                        if isinstance(item, AttributeChange) and item.time:
                            times[key] = item.time
                    expected = _bar_length(times.get(key, score.time))
                    runs.setdefault(key, []).append(_Bar(layout, staff, j, _voice_lengths(measure), expected))
    return list(runs.values())


def duration_doubts(score: Score, layouts: Sequence[SystemLayout]) -> list[Doubt]:
    """Bars whose first voice does not fill the time signature, or whose other voices overfill it.

    Short bars an engraver writes on purpose pass (when every staff of a system of several
    agrees on their length): an upbeat in the page's first bar and its complement in the last
    (``_upbeat``), and a bar split in two at a repeat sign, a phrase end or a system break, two
    neighbours that add up to one full bar (``_split_bar``).
    """
    doubts = []
    for run in _part_staff_runs(score, layouts):
        for n, bar in enumerate(run):
            if bar.expected is None:
                continue
            over = any(v > bar.expected for v in bar.lengths.values())
            if not over and bar.first == bar.expected:
                continue
            if not over and (_upbeat(bar, layouts) or _split_bar(run, n)):
                continue
            text = (f"lasts {_fmt(bar.first)} of {_fmt(bar.expected)} quarters" if bar.first != bar.expected
                    else f"a voice lasts {_fmt(max(bar.lengths.values()))} of {_fmt(bar.expected)} quarters")
            x0, x1 = bar.layout.spans[bar.staff.index][bar.j]
            doubts.append(Doubt("duration", text, bar.layout.index, bar.j, bar.staff.index,
                                box=_staff_box(bar.staff, x0, x1)))
    return doubts


def _agreed(bar: _Bar) -> bool:
    """Every other staff of the bar's system has a bar there with the same first-voice length."""
    for staff in bar.layout.staves:
        if staff is not bar.staff:
            if bar.j >= len(staff.measures):
                return False
            measure = staff.measures[bar.j]
            if _voice_lengths(measure)[min(measure.voices())] != bar.first:
                return False
    return True


def _upbeat(bar: _Bar, layouts: Sequence[SystemLayout]) -> bool:
    """A short first bar of the page's first system, or last bar of its last, that all its staves
    (two or more: on one staff an upbeat and a lost note look the same) share."""
    staves = bar.layout.staves
    if len(staves) < 2 or bar.first == 0:
        return False
    at_start = bar.layout is layouts[0] and bar.j == 0
    at_end = bar.layout is layouts[-1] and all(bar.j == len(s.measures) - 1 for s in staves)
    return (at_start or at_end) and _agreed(bar)


def _split_bar(run: list[_Bar], n: int) -> bool:
    """Bar ``n`` and a neighbour are both short and add up to one full bar, agreed by their systems."""
    bar = run[n]
    for m in (n - 1, n + 1):
        if 0 <= m < len(run):
            other = run[m]
            if (0 < other.first < bar.expected and other.expected == bar.expected
                    and bar.first + other.first == bar.expected and _agreed(bar) and _agreed(other)):
                return True
    return False


def barline_doubts(layouts: Sequence[SystemLayout]) -> list[Doubt]:
    """Bars of a staff whose barlines do not line up with those of the other staves of its system.

    A barline missed on one staff merges two bars there; a stem or a letter read as a barline
    splits one. Either way the staff's bars stop matching its neighbours' from that x on; the
    bar of the staff holding the lone (or the missing) barline is marked.
    """
    doubts = []
    for layout in layouts:
        staves = [s for s in layout.staves if s.measures]
        if len(staves) < 2:
            continue
        for staff in staves:
            ss = float(staff.staff.staff_space_px)
            own = _inner_barlines(staff)
            others = [_inner_barlines(s) for s in staves if s is not staff]
            # a barline of the system: one most other staves show
            near = BARLINE_ALIGN_SS * ss
            common = [x for x in sorted({round(x) for o in others for x in o})
                      if sum(any(abs(x - y) <= near for y in o) for o in others) * 2 > len(others)]
            lone = [x for x in own if not any(abs(x - y) <= BARLINE_ALIGN_SS * ss for y in common)]
            missing = [x for x in common if not any(abs(x - y) <= BARLINE_ALIGN_SS * ss for y in own)]
            for x, what in [(x, "a barline the other staves do not have") for x in lone] + \
                           [(x, "no barline where the other staves have one") for x in missing]:
                j = bar_at(layout, staff.index, x)
                if j is None:
                    continue
                doubts.append(Doubt("barline", f"{what} (x {x:.0f})", layout.index, j, staff.index,
                                    box=_staff_box(staff, x - ss, x + ss)))
    return doubts


def _inner_barlines(staff: StaffMusic) -> list[float]:
    """Barlines between the staff's first and last event (a system's closing barline is not compared:
    a staff that ends early for a short last bar is caught by the duration check)."""
    xs = [e.x for m in staff.measures for e in m.events]
    if not xs:
        return []
    return [x for x in staff.barlines if min(xs) < x < max(xs)]


def stem_doubts(page, layouts: Sequence[SystemLayout]) -> list[Doubt]:
    """Noteheads that should carry a stem and do not.

    The structure step drops a stemmed notehead whose stem the ink does not show (most are
    letters the detector took for noteheads); one that sits within a space of the staff is
    more likely a note whose stem was missed, so it is named here. A note read with no stem
    although its head needs one is named too.
    """
    structure, doubts = page.structure, []
    staff_layout = {s.index: layout for layout in layouts for s in layout.staves}
    for layout in layouts:
        for staff in layout.staves:
            for j, measure in enumerate(staff.measures):
                for event in measure.events:
                    names = [structure.symbols[i].class_name for i in event.head_ids]
                    if event.grace or event.is_rest or event.stem_up is not None \
                            or not any(map(has_stem, names)):
                        continue
                    box = tuple(float(v) for v in np.min(event.head_boxes, axis=0)[:2].tolist()
                                + np.max(event.head_boxes, axis=0)[2:].tolist())
                    doubts.append(Doubt("stem", f"{names[0]} read with no stem", layout.index, j,
                                        staff.index, box=box))
    kept = {s.id for s in structure.symbols if s.id is not None}
    staves = structure.staves
    for s in getattr(page, "detected", []) or []:
        if not has_stem(s.class_name) or s.id in kept or not staves:
            continue
        box = structure.frame.to_ink(s.box)
        cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
        positions = [abs(float(st.position(cx, cy)) - 4.0) for st in staves]
        k = int(np.argmin(positions))
        if positions[k] > DROPPED_NEAR_STAFF_HALF_SPACES or k not in staff_layout:
            continue
        layout = staff_layout[k]
        j = bar_at(layout, k, cx)
        doubts.append(Doubt("stem", f"{s.class_name} dropped: no stem in the ink", layout.index, j, k,
                            box=tuple(box)))
    return doubts


def clef_key_doubts(page, layouts: Sequence[SystemLayout]) -> list[Doubt]:
    """Staves read with no clef (pitched as treble by default: every bar is doubtful), and staves
    with no key signature where the other staves of the system have one."""
    structure, doubts = page.structure, []
    names = [s.class_name for s in structure.symbols]
    for layout in layouts:
        keys = Counter(s.fifths for s in layout.staves)
        for staff in layout.staves:
            on_staff = {names[i] for i in np.flatnonzero(structure.staff_of == staff.index)}
            x0 = float(staff.staff.xs[0])
            if not on_staff & set(CLEFS):
                for j in range(len(staff.measures)):
                    doubts.append(Doubt("clef", "no clef found: read as treble", layout.index, j, staff.index,
                                        box=_staff_box(staff, *layout.spans[staff.index][j])))
            common, count = keys.most_common(1)[0]
            has_key = bool(on_staff & {"keySharp", "keyFlat"})
            if staff.key_read is not None:  # reading.vote_key_signatures corrected it
                doubts.append(Doubt("key", f"key signature read as {staff.key_read:+d} fifths; "
                                    f"{staff.fifths:+d} taken from its part's other systems and its system",
                                    layout.index, 0 if staff.measures else None, staff.index,
                                    box=_staff_box(staff, x0, x0 + 8 * float(staff.staff.staff_space_px))))
            elif not has_key and common != 0 and count * 2 > len(layout.staves) and staff.fifths == 0:
                doubts.append(Doubt("key", f"no key signature; the other staves have {common:+d} fifths",
                                    layout.index, 0 if staff.measures else None, staff.index,
                                    box=_staff_box(staff, x0, x0 + 8 * float(staff.staff.staff_space_px))))
    return doubts


def bar_count_doubts(score: Score) -> list[Doubt]:
    """Parts of the page whose bar counts differ (the barline check names the bars)."""
    counts = {p.id: len(p.measure_rows()) for p in score.parts}
    if len(set(counts.values())) <= 1:
        return []
    common = Counter(counts.values()).most_common(1)[0][0]
    return [Doubt("bar-count", f"{n} bars; most parts have {common}", part=pid)
            for pid, n in counts.items() if n != common]


#: Classes whose reading changes the music (pitch, rhythm, clef, key, time): a low-confidence one
#: is doubtful. Slurs, ties, brackets, articulations, dynamics and text never reach the
#: MusicXML; on the DSv2 page the shipped model leaves out ~600 such boxes in [0.25, 0.5).
MUSIC_CLASS_PREFIXES = ("notehead", "rest", "accidental", "clef", "key", "timeSig", "flag",
                        "augmentationDot", "tuplet")

#: A left-out detection overlapping a read symbol this much (IoU) is that symbol seen twice
#: (a second box or class at a lower score), not a symbol the music lacks.
SAME_SYMBOL_IOU = 0.2


def is_music_class(class_name: str) -> bool:
    """Whether a class enters the music read from the page (``MUSIC_CLASS_PREFIXES``)."""
    return class_name.startswith(MUSIC_CLASS_PREFIXES) and class_name != "tupletBracket"


def _max_iou(box: np.ndarray, boxes: np.ndarray) -> float:
    if len(boxes) == 0:
        return 0.0
    w = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    h = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = w * h
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = (box[2] - box[0]) * (box[3] - box[1]) + areas - inter
    return float(np.max(inter / np.maximum(union, 1e-9)))


def low_score_doubts(page, layouts: Sequence[SystemLayout], score_thresh: float,
                     floor: float = LOW_SCORE_FLOOR, short_bars: frozenset = frozenset()) -> list[Doubt]:
    """Music symbols read although below the operating threshold, and music detections the
    pipeline left out for being below it (``PageResult.low_confidence``) but at least ``floor``,
    where no read symbol is; a left-out rhythm symbol only in ``short_bars`` ((staff, system,
    bar) that do not add up)."""
    structure, doubts = page.structure, []
    staff_layout = {s.index: layout for layout in layouts for s in layout.staves}
    staves = structure.staves
    read = [(s, structure.ink_boxes[i], int(structure.staff_of[i]), "read")
            for i, s in enumerate(structure.symbols)
            if floor <= s.score < score_thresh and not (s.id or "").startswith("rebuilt")
            and is_music_class(s.class_name)]
    read_boxes = np.asarray([b for s, b in zip(structure.symbols, structure.ink_boxes)
                             if not (s.id or "").startswith("rebuilt")], dtype=float).reshape(-1, 4)
    left_out = []
    for s in getattr(page, "low_confidence", []) or []:
        box = np.asarray(structure.frame.to_ink(s.box))
        if s.score < floor or not is_music_class(s.class_name):
            continue
        if _max_iou(box, read_boxes) >= SAME_SYMBOL_IOU:
            continue
        cx, cy = 0.5 * (box[0] + box[2]), 0.5 * (box[1] + box[3])
        k = int(np.argmin([abs(float(st.position(cx, cy)) - 4.0) for st in staves])) if staves else -1
        left_out.append((s, box, k, "left out"))
    for s, box, k, how in read + left_out:
        layout = staff_layout.get(k)
        if layout is None:
            continue
        j = bar_at(layout, k, 0.5 * float(box[0] + box[2]))
        if how == "left out" and s.class_name.startswith(RHYTHM_CLASS_PREFIXES) \
                and (k, layout.index, j) not in short_bars:
            continue
        doubts.append(Doubt("low-score", f"{s.class_name} {s.score:.2f} ({how})", layout.index, j, k,
                            box=tuple(float(v) for v in box)))
    return doubts


def _staff_box(staff: StaffMusic, x0: float, x1: float) -> tuple[float, float, float, float]:
    """The staff's height (one space beyond its outer lines) between x0 and x1."""
    ss = float(staff.staff.staff_space_px)
    top = float(np.min(staff.staff.line_ys[0])) - ss
    bottom = float(np.max(staff.staff.line_ys[4])) + ss
    return (float(x0), top, float(x1), bottom)


def find_doubts(page, score_thresh: float = DEFAULT_SCORE_THRESH) -> PageDoubts:
    """Every doubtful place of a page's result (``pipeline.PageResult``), placed in its system's bars.

    Args:
        page: a ``PageResult`` (score, structure; ``detected`` and ``low_confidence`` when present).
        score_thresh: the operating threshold the symbols were kept at.
    """
    layouts = system_layouts(page.score, page.structure)
    durations = duration_doubts(page.score, layouts)
    short = frozenset((d.staff, d.system, d.bar) for d in durations)
    doubts = (durations + barline_doubts(layouts) + stem_doubts(page, layouts)
              + clef_key_doubts(page, layouts) + bar_count_doubts(page.score)
              + low_score_doubts(page, layouts, score_thresh, short_bars=short))
    part_of = {s.index: pid for layout in layouts for pid, g in zip(layout.parts, layout.groups) for s in g}
    for d in doubts:
        if d.part is None and d.staff in part_of:
            d.part = part_of[d.staff]
    return PageDoubts(layouts, doubts)
