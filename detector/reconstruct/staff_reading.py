"""Read one staff left to right: symbols -> events (pitch, rhythm) and measures.

The structure step has placed every symbol on its staff and every notehead on its stem.
On each staff, stems gather their noteheads into chords, flags and beams set note values,
dots lengthen them, and the clef, key signature and accidentals in force at each x spell the
pitches. Barlines found in the ink cut the staff into measures.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Optional, Sequence

import numpy as np

from detector.reconstruct.barlines import find_barlines
from detector.reconstruct.beams import beam_connects
from detector.reconstruct.ledgers import NoteOnStaff
from detector.reconstruct.music import AttributeChange, Measure, NoteEvent, StaffMusic
from detector.reconstruct.pitch import (
    ACCIDENTAL_ALTER, CLEFS, Clef, MeasureAccidentals, key_alterations, notehead_on_line,
    clef_from_box, snap_position,
)
from detector.reconstruct.rhythm import (
    NOTEHEAD_QUARTERS, REST_QUARTERS, StemGroup, assign_dots, attach_flags, dotted, find_beams, flag_count,
    notehead_family,
)
from detector.reconstruct.rules import EngravingRules
from detector.reconstruct.stems import Stem

#: Long or free-floating symbols that never block a barline and never belong to a measure.
NOT_BLOCKING = ("slur", "tie", "beam", "staff", "brace", "dynamicCrescendoHairpin",
                "dynamicDiminuendoHairpin", "tupletBracket", "ottavaBracket", "ledgerLine")


def _centre(box: np.ndarray) -> tuple[float, float]:
    return float(box[0] + box[2]) / 2.0, float(box[1] + box[3]) / 2.0


def read_staves(structure, opening_keys: Optional[dict[int, int]] = None) -> list[StaffMusic]:
    """Read every staff of a ``StructureResult`` (page order) into measures of events.

    Which staff each symbol is on, which noteheads are notes and which stem each has were
    decided by the structure step; this step only reads them, with the rules it was built with.
    ``opening_keys``: staff index -> the key signature (fifths) to read it with at its start,
    instead of the one its symbols show (``reading.vote_key_signatures``).
    """
    opening_keys = opening_keys or {}
    names = [s.class_name for s in structure.symbols]
    boxes = np.asarray(structure.ink_boxes, dtype=float).reshape(-1, 4)
    music = []
    for k, staff in enumerate(structure.staves):
        ids = [i for i in range(len(names)) if structure.staff_of[i] == k]
        notes = [n for n in structure.notes if n.staff_index == k]
        stems = [s for s in structure.stems if s.staff_index == k]
        music.append(read_staff(structure.ink, staff, k, ids, names, boxes, notes, stems, structure.rules,
                                opening_keys.get(k)))
    return music


def read_staff(ink: np.ndarray, staff, index: int, ids: list[int], names: list[str],
               boxes: np.ndarray, notes: Sequence[NoteOnStaff], stems: Sequence[Stem],
               rules: Optional[EngravingRules] = None, opening_key: Optional[int] = None) -> StaffMusic:
    """Read one staff. ids: the symbols on it (indices into names/boxes); notes/stems: its
    noteheads and stems as the structure step placed them; rules: the thresholds (defaults when None);
    opening_key: the key signature in force at the staff's start, overriding what is read there."""
    rules = rules or EngravingRules()
    ss = float(staff.staff_space_px)
    events = _events(ink, ids, names, boxes, notes, stems, ss, rules)
    blocking = np.array([boxes[i] for i in ids if names[i] not in NOT_BLOCKING]).reshape(-1, 4)
    barlines = find_barlines(ink, staff, blocking, rules)
    stray = _stray_key_accidentals(ids, names, boxes, events, barlines, ss, rules)
    changes = _attribute_changes(staff, [i for i in ids if i not in stray], names, boxes, ss, rules, ink)
    if opening_key is not None:
        changes = _with_opening_key(changes, events, opening_key, float(staff.xs[0]))
    accidentals = _accidentals(staff, ids, names, boxes, events, ss, rules, stray)
    music = StaffMusic(index=index, staff=staff, barlines=barlines)
    _walk(music, events, changes, accidentals, names)
    _split_voices(music, ss, rules)
    _tag_beams(ink, music, ss, rules)
    _apply_tuplets(music, ids, names, boxes, ss, rules)
    return music


# --------------------------------------------------------------------------- events


def _stem_groups(notes: Sequence[NoteOnStaff], stems: Sequence[Stem]) -> list[StemGroup]:
    """The structure's stems as rhythm groups: heads are indices into ``notes``."""
    local = {id(n): h for h, n in enumerate(notes)}
    groups = []
    for stem in stems:
        heads = [local[id(n)] for n in stem.notes if id(n) in local]
        if heads:
            box = np.asarray(stem.box, dtype=float)
            groups.append(StemGroup(box=box, heads=heads, up=stem.direction == "up"))
    return groups


def _events(ink, ids, names, boxes, notes, stems, ss, rules: EngravingRules) -> list[NoteEvent]:
    """Chords and rests of the staff, with durations, sorted by x (pitches come later)."""
    heads = [n.symbol_index for n in notes]
    rests = [i for i in ids if names[i] in REST_QUARTERS or names[i] == "restHBar"]
    flags = [i for i in ids if flag_count(names[i])]
    dots = [i for i in ids if names[i] == "augmentationDot"]
    head_boxes = boxes[heads].reshape(-1, 4)
    groups = _stem_groups(notes, stems)
    attach_flags(groups, boxes[flags].reshape(-1, 4), [flag_count(names[i]) for i in flags], ss, rules)
    find_beams(groups, head_boxes, ink, ss, rules)
    owners = np.concatenate([head_boxes, boxes[rests].reshape(-1, 4)])
    dot_counts = assign_dots(owners, boxes[dots].reshape(-1, 4), ss, rules)

    events: list[NoteEvent] = []
    stemmed = set()
    for g in groups:
        stemmed.update(g.heads)
        events.append(_chord([heads[h] for h in g.heads], [dot_counts[h] for h in g.heads],
                             names, boxes, g))
    for chord in _stemless_chords(head_boxes, [h for h in range(len(heads)) if h not in stemmed]):
        events.append(_chord([heads[h] for h in chord], [dot_counts[h] for h in chord],
                             names, boxes, None))
    for r, i in enumerate(rests):
        events.append(_rest(i, names[i], boxes[i], dot_counts[len(heads) + r]))
    events.sort(key=lambda e: e.x)
    return _merge_voices(events, rules.coincident_sp * ss)


def _chord(head_ids: list[int], dots: list[int], names, boxes, group: Optional[StemGroup]) -> NoteEvent:
    """A chord (or single note) from its noteheads and, when it has one, its stem."""
    family = notehead_family(names[head_ids[0]])
    base = NOTEHEAD_QUARTERS[family]
    grace = all(names[i].endswith("Small") for i in head_ids)
    x = float(np.mean([_centre(boxes[i])[0] for i in head_ids]))
    event = NoteEvent(x=x, duration=base, base=base, head_ids=list(head_ids),
                      head_boxes=[boxes[i] for i in head_ids], grace=grace)
    if group is not None:
        event.x, event.stem_up = group.x, group.up
        event.tip = (group.x, group.tip_y)
        if family == "noteheadBlack":
            event.beams = group.beams
            event.base = base / (2 ** max(group.flags, group.beams))
    event.dots = max(dots) if dots else 0
    event.duration = Fraction(0) if grace else dotted(event.base, event.dots)
    event.head_durations = [event.duration] * len(head_ids)
    return event


def _stemless_chords(head_boxes: np.ndarray, free: list[int]) -> list[list[int]]:
    """Stemless noteheads (whole notes) that overlap in x are one chord."""
    chords: list[list[int]] = []
    for h in sorted(free, key=lambda h: head_boxes[h][0]):
        cx = (head_boxes[h][0] + head_boxes[h][2]) / 2.0
        if chords:
            last = head_boxes[chords[-1][0]]
            if last[0] <= cx <= last[2]:
                chords[-1].append(h)
                continue
        chords.append([h])
    return chords


def _rest(i: int, name: str, box: np.ndarray, dots: int) -> NoteEvent:
    """A rest event; a whole rest or a measure-rest bar may fill a whole measure."""
    base = REST_QUARTERS.get(name, Fraction(4))
    return NoteEvent(x=_centre(box)[0], duration=dotted(base, dots), base=base, dots=dots,
                     symbol_id=i, box=box, measure_rest=name in ("restWhole", "restHBar") and dots == 0)


def _merge_voices(events: list[NoteEvent], coincident_px: float) -> list[NoteEvent]:
    """Notes of two stems pointing the same way at the same x (closer than ``coincident_px``) are
    one chord (a second split across two stems); stems pointing opposite ways at one x are two
    voices (`_split_voices`)."""
    merged: list[NoteEvent] = []
    for e in events:
        prev = merged[-1] if merged else None
        if (prev is not None and not e.is_rest and not prev.is_rest and e.grace == prev.grace
                and abs(e.x - prev.x) < coincident_px
                and not (e.stem_up is not None and prev.stem_up is not None and e.stem_up != prev.stem_up)):
            prev.head_ids += e.head_ids
            prev.head_boxes += e.head_boxes
            prev.head_durations += e.head_durations
            if e.duration and e.duration < prev.duration:
                prev.duration, prev.base, prev.dots = e.duration, e.base, e.dots
            continue
        merged.append(e)
    return merged


def _head_x(event: NoteEvent) -> float:
    """x of an event's noteheads (its stem stands at their right or left edge: 1 space apart)."""
    return float(np.mean([_centre(b)[0] for b in event.head_boxes]))


def _split_voices(music: StaffMusic, ss: float, rules: EngravingRules) -> None:
    """Two voices on one staff, read by stem direction (in place: sets ``event.voice``).

    Engravers write two voices on a staff with the upper voice's stems up and the lower's
    down, and shift each voice's rests towards its side of the staff. A measure holds two
    voices when an up-stem and a down-stem sound together (same x); there, up-stems are
    voice 1, down-stems voice 2, rests go by their height, and stemless notes (whole notes) to
    the voice whose noteheads are nearer. A measure without such a pair is one voice whatever
    its stem directions (a single line turns its stems at the middle line).
    """
    staff = music.staff
    for measure in music.measures:
        notes = [e for e in measure.events if not e.is_rest and not e.grace]
        ups = [e for e in notes if e.stem_up is True]
        downs = [e for e in notes if e.stem_up is False]
        if not any(abs(_head_x(u) - _head_x(d)) < rules.coincident_sp * ss for u in ups for d in downs):
            continue
        up_y = float(np.mean([_centre(b)[1] for e in ups for b in e.head_boxes]))
        down_y = float(np.mean([_centre(b)[1] for e in downs for b in e.head_boxes]))
        for e in measure.events:
            if e.is_rest:
                middle = float(staff.y_of_position(4, e.x))
                e.voice = 1 if _centre(e.box)[1] < middle else 2
            elif e.stem_up is None:
                y = float(np.mean([_centre(b)[1] for b in e.head_boxes]))
                e.voice = 1 if abs(y - up_y) <= abs(y - down_y) else 2
            else:
                e.voice = 1 if e.stem_up else 2


# --------------------------------------------------------------------------- attributes


#: A key-signature glyph read as the accidental it then is (``_stray_key_accidentals``).
KEY_AS_ACCIDENTAL = {"keyFlat": "accidentalFlat", "keySharp": "accidentalSharp",
                     "keyNatural": "accidentalNatural"}
KEY_CLASSES = tuple(KEY_AS_ACCIDENTAL)


def _stray_key_accidentals(ids, names, boxes, events, barlines, ss, rules: EngravingRules) -> set[int]:
    """Single key-signature glyphs that stand among the notes, away from any barline: accidentals
    the detector took for a key signature (they made every later B of a trumpet part flat).

    A key signature stands before a staff's first note, or right after a barline where the key
    changes (``rules.key_change_reach_sp``); a lone sharp, flat or natural anywhere else is an
    accidental. Groups of two or more glyphs are left as keys.
    """
    first_note = min((e.x for e in events), default=float("inf"))
    bars = np.asarray(sorted(barlines), dtype=float)
    reach = rules.key_change_reach_sp * ss
    stray = set()
    for group in _groups([i for i in ids if names[i] in KEY_CLASSES], boxes, rules.signature_gap_sp * ss):
        x0 = float(boxes[group[0]][0])
        after_bar = bars.size and ((x0 - bars >= -0.5 * ss) & (x0 - bars <= reach)).any()
        if len(group) == 1 and x0 > first_note and not after_bar:
            stray.add(group[0])
    return stray


def _attribute_changes(staff, ids, names, boxes, ss, rules: EngravingRules,
                       ink: Optional[np.ndarray] = None) -> list[AttributeChange]:
    """Clefs (with their octave marks, from the detector or else the ink), key signatures and
    time signatures, by x."""
    changes: list[AttributeChange] = []
    clefs = [i for i in ids if names[i] in CLEFS]
    octave_marks = [i for i in ids if names[i] in ("clef8", "clef15")]
    for i in clefs:
        x0, y0, _, y1 = boxes[i]
        mark = _octave(i, octave_marks, names, boxes)
        if mark is None and ink is not None:
            mark = _octave_mark_in_ink(ink, staff, boxes[i], ss, rules)
        clef = clef_from_box(names[i], float(staff.position(x0, y1)), float(staff.position(x0, y0)),
                             mark, rules)
        changes.append(AttributeChange(x=float(x0), clef=clef))
    gap = rules.signature_gap_sp * ss
    for group in _groups([i for i in ids if names[i] in KEY_CLASSES], boxes, gap):
        sharps = sum(names[i] == "keySharp" for i in group)
        flats = sum(names[i] == "keyFlat" for i in group)
        changes.append(AttributeChange(x=float(boxes[group[0]][0]), fifths=sharps - flats))
    for group in _groups([i for i in ids if names[i].startswith("timeSig")], boxes, gap):
        time = _time_signature(staff, group, names, boxes)
        if time:
            changes.append(AttributeChange(x=float(boxes[group[0]][0]), time=time))
    return sorted(changes, key=lambda c: c.x)


def _with_opening_key(changes: list[AttributeChange], events: list[NoteEvent], fifths: int,
                      start_x: float) -> list[AttributeChange]:
    """``changes`` with the key signature before the first note set to ``fifths`` (one is added at
    the staff's start when none was read there)."""
    first_note = min((e.x for e in events), default=float("inf"))
    opening = [c for c in changes if c.fifths is not None and c.x < first_note]
    if opening:
        opening[0].fifths = fifths
        return changes
    return sorted(changes + [AttributeChange(x=start_x, fifths=fifths)], key=lambda c: c.x)


def _octave(clef: int, marks: list[int], names, boxes) -> Optional[int]:
    """+1/-1 (+2/-2 for 15) when an octave mark sits above/below this clef, None without one."""
    cb = boxes[clef]
    for m in marks:
        mb = boxes[m]
        if mb[2] >= cb[0] and mb[0] <= cb[2]:
            sign = 1 if _centre(mb)[1] < _centre(cb)[1] else -1
            return sign * (2 if names[m] == "clef15" else 1)
    return None


def _octave_mark_in_ink(ink: np.ndarray, staff, box, ss: float, rules: EngravingRules) -> Optional[int]:
    """-1 when the ink shows an "8" centred under the clef ``box``, below the staff
    (``rules.octave_mark_*``); None when it shows none.

    The "8" is a connected ink component, whole inside the window under the clef, of a digit's
    height and width; the clef's own tail, staff lines and anything reaching out of the window
    are not. Only below: over a system's first clef stands its bar number, whose digits look the
    same (a treble 8va clef is rare, and the detector's clef8 boxes still give it), and a "15"
    is two components (also left to the detector).
    """
    from skimage.measure import label, regionprops

    x0, _, x1, y1 = (float(v) for v in box)
    centre = (x0 + x1) / 2
    bottom_line = float(staff.y_at(4, centre))
    low_h, high_h = (v * ss for v in rules.octave_mark_height_sp)
    low_w, high_w = (v * ss for v in rules.octave_mark_width_sp)
    top = int(max(max(y1, bottom_line) - 0.3 * ss, 0))
    bottom = int(min(max(y1, bottom_line) + rules.octave_mark_reach_sp * ss, ink.shape[0]))
    left, right = int(max(centre - high_w, 0)), int(min(centre + high_w, ink.shape[1]))
    if bottom - top < 2 or right - left < 2:
        return None
    for region in regionprops(label(ink[top:bottom, left:right], connectivity=2)):
        r0, c0, r1, c1 = region.bbox
        if r0 == 0 or c0 == 0 or r1 == bottom - top or c1 == right - left:
            continue  # reaches out of the window: the clef itself, a staff line, a slur
        below_staff = top + (r0 + r1) / 2 > bottom_line + 0.5 * ss
        if below_staff and low_h <= r1 - r0 <= high_h and low_w <= c1 - c0 <= high_w:
            return -1
    return None


def _groups(ids: list[int], boxes, gap_px: float) -> list[list[int]]:
    """Symbols in a horizontal row with gaps under ``gap_px`` (key and time signatures)."""
    groups: list[list[int]] = []
    for i in sorted(ids, key=lambda i: boxes[i][0]):
        if groups and boxes[i][0] - max(boxes[j][2] for j in groups[-1]) < gap_px:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def _time_signature(staff, group, names, boxes) -> Optional[tuple[int, int]]:
    """4/4 from C, 2/2 from cut C, else digits above the middle line over digits below."""
    kinds = [names[i] for i in group]
    if "timeSigCommon" in kinds:
        return 4, 4
    if "timeSigCutCommon" in kinds:
        return 2, 2
    top, bottom = [], []
    for i in sorted(group, key=lambda i: boxes[i][0]):
        digit = names[i][len("timeSig"):]
        if not digit.isdigit():
            continue
        cx, cy = _centre(boxes[i])
        (top if staff.position(cx, cy) > 4 else bottom).append(digit)
    if top and bottom and int("".join(bottom)) > 0:
        return int("".join(top)), int("".join(bottom))
    return None


# --------------------------------------------------------------------------- pitch


def _accidentals(staff, ids, names, boxes, events, ss, rules: EngravingRules,
                 key_glyphs: frozenset | set = frozenset()) -> dict[int, int]:
    """Alteration written before each notehead (symbol index -> alter), from accidentals (and
    the key-signature glyphs in ``key_glyphs``, read as accidentals).

    An accidental belongs to the notehead just right of it (within ``rules.accidental_reach_sp``;
    chord accidentals stack leftwards) at the same staff position; a flat's bowl, not its box
    centre, marks it.
    """
    reach_hs = rules.accidental_position_hs
    heads = [(i, e) for e in events for i in e.head_ids]
    found: dict[int, tuple[int, float]] = {}
    for a in ids:
        kind = KEY_AS_ACCIDENTAL[names[a]] if a in key_glyphs else names[a].removesuffix("Small")
        if kind not in ACCIDENTAL_ALTER:
            continue
        box = boxes[a]
        cy = box[3] - rules.flat_bowl_sp * ss if "Flat" in kind else _centre(box)[1]
        pos = staff.position(_centre(box)[0], cy)
        best, best_cost = None, None
        for h, _ in heads:
            hb = boxes[h]
            gap = hb[0] - box[2]
            hpos = staff.position(*_centre(hb))
            if (not -rules.accidental_overlap_sp * ss <= gap <= rules.accidental_reach_sp * ss
                    or abs(hpos - pos) > reach_hs):
                continue
            cost = abs(hpos - pos) + rules.accidental_gap_weight * gap / ss
            if best_cost is None or cost < best_cost:
                best, best_cost = h, cost
        if best is not None and (best not in found or best_cost < found[best][1]):
            found[best] = (ACCIDENTAL_ALTER[kind], best_cost)
    return {h: alter for h, (alter, _) in found.items()}


def _walk(music: StaffMusic, events: list[NoteEvent], changes: list[AttributeChange],
          accidentals: dict[int, int], names: list[str]) -> None:
    """Cut events into measures at the barlines and spell pitches with the state in force."""
    staff = music.staff
    clefs = [c.clef for c in changes if c.clef]
    # the key in force at the start is the signature written before the first note; one met
    # later is a change there (or an accidental taken for a key flat), not the opening key
    first_note = min((e.x for e in events), default=float("inf"))
    keys = [c.fifths for c in changes if c.fifths is not None and c.x < first_note]
    clef, fifths = (clefs[0] if clefs else music.clef), (keys[0] if keys else music.fifths)
    music.clef, music.fifths = clef, fifths
    bars = sorted(music.barlines)
    measures: list[Measure] = [Measure() for _ in range(len(bars) + 1)]
    state = MeasureAccidentals(key=key_alterations(fifths))
    current = -1
    for item in sorted(changes + events, key=lambda i: (i.x, isinstance(i, NoteEvent))):
        k = int(np.searchsorted(bars, item.x))
        if k != current:
            state = MeasureAccidentals(key=key_alterations(fifths))
            current = k
        if isinstance(item, AttributeChange):
            if item.clef:
                clef = item.clef
            if item.fifths is not None:
                fifths = item.fifths
                state = MeasureAccidentals(key=key_alterations(fifths))
        else:
            _spell(item, staff, clef, state, accidentals, names)
        measures[k].items.append(item)
    # empty measures (before a leading barline, after the last) and courtesy signatures go
    music.measures = [m for m in measures if m.events]


def _spell(event: NoteEvent, staff, clef: Clef, state: MeasureAccidentals,
           accidentals: dict[int, int], names: list[str]) -> None:
    """Set the pitches of a chord, lowest first."""
    spelled = []
    for i, box in zip(event.head_ids, event.head_boxes):
        position = snap_position(staff.position(*_centre(box)), notehead_on_line(names[i]))
        written = accidentals.get(i)
        duration = event.head_durations[len(spelled)]
        spelled.append((state.pitch(clef, position, written), written, i, box, duration))
    spelled.sort(key=lambda p: p[0].midi())
    event.pitches = [p[0] for p in spelled]
    event.accidentals = [p[1] for p in spelled]
    event.head_ids = [p[2] for p in spelled]
    event.head_boxes = [p[3] for p in spelled]
    event.head_durations = [p[4] for p in spelled]


# --------------------------------------------------------------------------- beams


def _tag_beams(ink: np.ndarray, music: StaffMusic, ss: float, rules: EngravingRules) -> None:
    """MusicXML beam tags per level for consecutive beamed notes joined by ink at the tips."""
    for measure, voice in ((m, v) for m in music.measures for v in m.voices()):
        events = [e for e in measure.events if not e.is_rest and not e.grace and e.voice == voice]
        linked = [e.beams > 0 and f.beams > 0 and e.tip is not None and f.tip is not None
                  and beam_connects(ink, e.tip, f.tip, ss, rules) for e, f in zip(events, events[1:])]
        for n, e in enumerate(events):
            e.beam_tags = []
            left = n > 0 and linked[n - 1]
            right = n < len(linked) and linked[n]
            for level in range(1, e.beams + 1):
                has_left = left and events[n - 1].beams >= level
                has_right = right and events[n + 1].beams >= level
                if has_left and has_right:
                    e.beam_tags.append("continue")
                elif has_right:
                    e.beam_tags.append("begin")
                elif has_left:
                    e.beam_tags.append("end")
                elif left or right:
                    e.beam_tags.append("forward hook" if right else "backward hook")


# --------------------------------------------------------------------------- tuplets

#: Tuplet number class -> (actual, normal): three in the time of two, ...
TUPLET_RATIO: dict[str, tuple[int, int]] = {
    "tuplet2": (2, 3), "tuplet3": (3, 2), "tuplet4": (4, 3), "tuplet5": (5, 4), "tuplet6": (6, 4),
    "tuplet7": (7, 4), "tuplet8": (8, 6), "tuplet9": (9, 8),
}


def _beam_groups(events: list[NoteEvent]) -> list[list[NoteEvent]]:
    """Runs of events joined by beams (a 'begin' ... 'end' chain at level 1)."""
    groups, current = [], []
    for e in events:
        tag = e.beam_tags[0] if e.beam_tags else None
        if tag == "begin" or (tag in ("continue", "end") and not current):
            current = [e]
        elif tag in ("continue", "end"):
            current.append(e)
        if tag == "end" and current:
            groups.append(current)
            current = []
    return groups


def _tuplet_members(voices: list[list[NoteEvent]], box: np.ndarray, brackets: list[np.ndarray],
                    ss: float, rules: EngravingRules) -> Optional[list[NoteEvent]]:
    """The events a tuplet number scales: those under its bracket (in the voice with most events
    there), else the beamed group right beside it (stem tips within ``rules.tuplet_reach_sp``);
    None when it stands by neither."""
    cx, cy = _centre(box)
    up_down, margin = rules.tuplet_bracket_reach_sp * ss, rules.tuplet_margin_sp * ss
    bracket = next((b for b in brackets
                    if b[0] <= cx <= b[2] and b[1] - up_down <= cy <= b[3] + up_down), None)
    if bracket is not None:
        x0, x1 = bracket[0] - margin, bracket[2] + margin
        under = [[e for e in voice if x0 <= e.x <= x1] for voice in voices]
        return max(under, key=len, default=None) or None
    for voice in voices:
        for group in _beam_groups(voice):
            tips = [e.tip[1] for e in group if e.tip is not None]
            centre, width = 0.5 * (group[0].x + group[-1].x), group[-1].x - group[0].x
            centred = abs(cx - centre) <= rules.tuplet_centre_share * width + margin
            if centred and tips and min(abs(t - cy) for t in tips) <= rules.tuplet_reach_sp * ss:
                return group
    return None


def _apply_tuplets(music: StaffMusic, ids: list[int], names: list[str], boxes: np.ndarray, ss: float,
                   rules: EngravingRules) -> None:
    """Scale the notes of each tuplet number (3 in the time of 2, ...), in place.

    Only a tuplet class counts, and only where it stands by a bracket or a beam
    (`_tuplet_members`): a digit elsewhere (figured bass under a continuo line) is not a tuplet.
    """
    voices = [[e for m in music.measures for e in m.events if not e.grace and e.voice == v]
              for v in sorted({e.voice for m in music.measures for e in m.events})]
    brackets = [boxes[i] for i in ids if names[i] == "tupletBracket"]
    for i in ids:
        if names[i] not in TUPLET_RATIO:
            continue
        actual, normal = TUPLET_RATIO[names[i]]
        for e in _tuplet_members(voices, boxes[i], brackets, ss, rules) or []:
            if e.tuplet is None:
                e.tuplet = (actual, normal)
                scale = Fraction(normal, actual)
                e.duration *= scale
                e.head_durations = [d * scale for d in e.head_durations]
