"""Many pages -> ONE score: parts that continue across systems and pages.

Each page is read on its own (`read_page`: at the detector's staff-space scale,
`page_scale.py`), then `assemble_score` strings the pages' systems together in page order:

- **Parts.** The widest system of the piece (the most staves; the first such) sets the
  parts: one per staff group of it (a staff, or two braced staves: `systems.py`). The staves
  of every system are then matched to those parts' staves in order (a monotone alignment,
  so no two parts swap), at a cost of 1 per staff whose clef differs from the clef its part
  ended the previous system with and 1.5 per staff whose group is not its part's size. So
  when a system has fewer staves than the widest one (an instrument that rests is left out,
  as orchestral scores do), each staff goes to the part whose clef and brace it continues (a
  piano alone in a system goes to the piano, not to the violin and cello it has the clefs
  of). No system has more staves than the widest, so no staff is lost.
- **Measures.** A part missing from a system gets empty measures there, and every part of a
  system is padded to the system's longest staff, so all parts stay in step (one missed
  barline costs one measure on one system, not a shift of the rest of the piece). Measures
  are numbered through the whole score.
- **Key, clef, time.** Clefs and keys are read per system from what is printed there (every
  system prints them) and written as changes when they differ from what is in force; a clef
  octave guessed from the clef's box (no 8 mark) is put to the vote of the part's systems on
  every page (`reading.vote_clef_octaves`, which a page alone does with its own systems); the
  time signature, printed only where it starts or changes, is carried from page to page: a
  page that shows none does not get its own guess, and its whole-measure rests last the
  carried measure.
- **Breaks.** Each part records the page of each of its systems: MusicXML gets
  ``<print new-system="yes">`` and ``<print new-page="yes">`` (`musicxml.py`).

Not handled: instrument names and abbreviations are not read (no text recognition), so two
parts of equal clefs (two violins) cannot be told apart when one of them is left out of a
system (the upper one is kept); a staff moving between parts (divisi, a piano's staff
shared), ossia staves, and a clef or key the detector missed at a system start (the page's
reading takes what it sees) are not repaired from the previous system.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np

from detector.model.model_io import DEFAULT_WEIGHTS
from detector.reconstruct.music import AttributeChange, Measure, Part, Score, StaffMusic
from detector.reconstruct.page_scale import PageScale, normalise_page, symbols_to_work
from detector.reconstruct.deskew import deskew_page
from detector.reconstruct.margin_text import name_parts
from detector.reconstruct.pipeline import (
    REBUILT_CLASSES, PageResult, detect_symbols, read_music, turned_symbols,
)
from detector.reconstruct.pitch import Clef
from detector.reconstruct.reading import _fill_measure_rests, vote_clef_octaves
from detector.reconstruct.symbols import Symbol
from detector.reconstruct.systems import group_systems

#: Alignment costs: a staff whose clef is not the clef its part ended the previous system
#: with (a clef change at a system start happens, but seldom on many staves at once); a staff
#: whose group (braced pair or single staff) is not the size of its part's: a piano playing
#: alone keeps its brace, so its treble and bass staves go to the piano, not to a violin and
#: a cello that rest (higher than a clef, lower than two: a missed brace is not fatal).
CLEF_COST = 1.0
GROUP_COST = 1.5
#: ... and a printed name that is not its part's outweighs both: "Ob." beside a treble staff
#: is the oboe even when the flute above it rests.
NAME_COST = 3.0
_NUMBER = re.compile(r"^(.*?)(?:\s*([0-9]+)|\s+([ivx]+))$")  # "violin 2", "vln ii" (not "violini")


def names_match(a: str, b: str) -> bool:
    """Whether two printed part names can name the same part: one is the other or its
    abbreviation ("Vc." / "Violoncello", "Vlns." / "Violins": the letters of one appear in
    order in the other, from the same first letter), with the same number if either has one
    ("Vln. I" is not "Violin II")."""
    def split(name: str) -> tuple[str, str]:
        text = re.sub(r"[^a-z0-9 ]", "", name.casefold()).strip()
        match = _NUMBER.match(text)
        if match and match.group(1):
            roman = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6", "vii": "7", "viii": "8"}
            number = match.group(2) or roman.get(match.group(3), match.group(3))
            return match.group(1).replace(" ", ""), number
        return text.replace(" ", ""), ""

    (word_a, number_a), (word_b, number_b) = split(a), split(b)
    if number_a != number_b or not word_a or not word_b or word_a[0] != word_b[0]:
        return False
    short, long = sorted((word_a, word_b), key=len)
    letters = iter(long)
    return all(letter in letters for letter in short)


@dataclass
class PageMusic:
    """One page read: its score, its systems (each a list of staff groups) and its scale."""

    name: str
    score: Score
    systems: list[list[list[StaffMusic]]]
    scale: PageScale = field(default_factory=PageScale)
    seconds: float = 0.0


def read_page(gray: np.ndarray, symbols: Optional[list[Symbol]] = None, weights=None,
              name: str = "",
              on_result: Optional[Callable[[np.ndarray, PageResult], None]] = None,
              device: Optional[str] = None, precision: str = "auto") -> PageMusic:
    """Read one page at the detector's scale: detect (or take ``symbols``, in page pixels),
    then staves, structure and music. Nothing of the page's pixels is kept; ``on_result`` (the
    HTML report) sees the page as read and its whole result before they are let go.
    ``device`` and ``precision`` go to ``pipeline.detect_symbols``."""
    started = time.perf_counter()
    work, scale = normalise_page(gray)
    work, skew = deskew_page(work)  # level staves before anything looks along columns
    if symbols is None:
        work_symbols = detect_symbols(work, Path(weights) if weights else DEFAULT_WEIGHTS, device=device,
                                      precision=precision)
    else:
        work_symbols = turned_symbols(symbols_to_work(symbols, scale), skew, work.shape)
    work_symbols = [s for s in work_symbols if s.class_name not in REBUILT_CLASSES]
    score, structure, used = read_music(work, work_symbols)
    if on_result is not None:
        on_result(work, PageResult(score, structure, used, detected=work_symbols))
    systems = group_systems(structure.ink, score.staves, [s.class_name for s in used], structure.ink_boxes,
                            structure.rules)
    return PageMusic(name, score, systems, scale, time.perf_counter() - started)


def _last_clef(staff: StaffMusic) -> Clef:
    """The clef in force at the end of a staff."""
    clef = staff.clef
    for measure in staff.measures:
        for item in measure.items:
            if isinstance(item, AttributeChange) and item.clef:
                clef = item.clef
    return clef


def match_staves(staves: Sequence[StaffMusic], clefs: Sequence[Clef], group_sizes: Sequence[int] = (),
                 slot_sizes: Sequence[int] = (), slot_names: Sequence[set[str]] = ()) -> list[int]:
    """Slot (index into ``clefs``, the parts' staves in order) of each staff of a system, which
    has no more staves than there are slots.

    A dynamic program over (staves, slots), order kept so no two parts swap: a slot may be
    skipped (its part rests in this system), else staff i fills slot j at ``CLEF_COST`` when
    its clef is not the slot's, plus ``GROUP_COST`` when the size of its staff group
    (``group_sizes[i]``) is not its part's (``slot_sizes[j]``), plus ``NAME_COST`` when the
    staff's printed name (``StaffMusic.label``) fits none of the names its slot's part was
    printed with (``slot_names[j]``; ``names_match``). Ties prefer the earlier slot (the upper staff).
    """
    m, n = len(staves), len(clefs)
    group_sizes = list(group_sizes) or [1] * m
    slot_sizes = list(slot_sizes) or [1] * n
    slot_names = list(slot_names) or [set()] * n

    def name_cost(i: int, j: int) -> float:
        label = staves[i].label
        if not label or not slot_names[j]:
            return 0.0
        return 0.0 if any(names_match(label, name) for name in slot_names[j]) else NAME_COST
    if m > n:
        raise ValueError(f"{m} staves for {n} slots: the widest system sets the slots")
    inf = float("inf")
    cost = [[0.0] * (n + 1)] + [[inf] * (n + 1) for _ in range(m)]
    matched = [[False] * (n + 1) for _ in range(m + 1)]
    for i in range(1, m + 1):
        for j in range(i, n + 1):
            match = (cost[i - 1][j - 1] + CLEF_COST * (staves[i - 1].clef != clefs[j - 1])
                     + GROUP_COST * (group_sizes[i - 1] != slot_sizes[j - 1]) + name_cost(i - 1, j - 1))
            cost[i][j], matched[i][j] = (match, True) if match < cost[i][j - 1] else (cost[i][j - 1], False)
    out, j = [0] * m, n
    for i in range(m, 0, -1):
        while not matched[i][j]:
            j -= 1
        out[i - 1], j = j - 1, j - 1
    return out


def _empty_staff(clef: Clef, fifths: int, measures: int) -> StaffMusic:
    """A staff of a part that is left out of a system: empty measures, the part's clef and key."""
    return StaffMusic(index=-1, staff=None, measures=[Measure() for _ in range(measures)], clef=clef,
                      fifths=fifths)


def _carry_time(pages: Sequence[PageMusic]) -> None:
    """A page that shows no time signature is in the one in force (the last written on an
    earlier page): its whole-measure rests last that measure, not the page's own guess."""
    written = None
    for page in pages:
        if not page.score.time_inferred:
            written = page.score.time
        elif written is not None:
            _fill_measure_rests(page.score.staves, written)


class _Slots:
    """The parts being built: one slot per staff of each part, with the clef and key it ended
    its last system with (what the next system's staff is matched against)."""

    def __init__(self, widest: list[list[StaffMusic]]):
        self.parts = [Part(id=f"P{k + 1}", staff_count=len(g)) for k, g in enumerate(widest)]
        self.owner = [(k, s) for k, g in enumerate(widest) for s in range(len(g))]  # slot -> (part, staff)
        self.clefs = [s.clef for g in widest for s in g]
        self.keys = [s.fifths for g in widest for s in g]
        self.names: list[set[str]] = [set() for g in widest for _ in g]  # printed beside each slot's part

    def add_system(self, page_no: int, groups: list[list[StaffMusic]]) -> None:
        """Give each staff of a system its slot, fill the slots left out, pad all to one length."""
        staves = [s for g in groups for s in g]
        count = max(len(s.measures) for s in staves)
        slot_sizes = [self.parts[k].staff_count for k, _ in self.owner]
        slots = match_staves(staves, self.clefs, [len(g) for g in groups for _ in g], slot_sizes, self.names)
        filled = dict(zip(slots, staves))
        for slot, staff in filled.items():
            if staff.label:
                self.names[slot].add(staff.label)
        rows: dict[int, list] = {}
        for slot, (k, _) in enumerate(self.owner):
            staff = filled.get(slot) or _empty_staff(self.clefs[slot], self.keys[slot], count)
            staff.measures += [Measure() for _ in range(count - len(staff.measures))]
            self.clefs[slot], self.keys[slot] = _last_clef(staff), staff.fifths
            rows.setdefault(k, []).append(staff)
        for k, part in enumerate(self.parts):
            part.systems.append(rows[k])
            part.system_pages.append(page_no)


def assemble_score(pages: Sequence[PageMusic]) -> Score:
    """One score from the pages in order (see the module docstring for the rules)."""
    _carry_time(pages)
    first = pages[0].score if pages else Score(parts=[], staves=[])
    systems = [(p, system) for p, page in enumerate(pages) for system in page.systems if system]
    if not systems:
        return Score(parts=[], staves=[], time=first.time, time_inferred=first.time_inferred)
    widest = max((system for page in pages for system in page.systems),
                 key=lambda system: sum(len(g) for g in system))
    slots = _Slots(widest)
    for page_no, groups in systems:
        slots.add_system(page_no, groups)
    # a clef octave guessed from its box is outvoted by the part's systems on every page
    # (the empty staves of a part left out of a system do not vote)
    vote_clef_octaves([Part(p.id, p.staff_count, [g for g in p.systems if all(s.index >= 0 for s in g)])
                       for p in slots.parts])
    name_parts(slots.parts)  # from the names printed beside each system (margin_text.py)
    return Score(parts=slots.parts, staves=[s for _, groups in systems for g in groups for s in g],
                 time=first.time, time_inferred=first.time_inferred, first_measure=first.first_measure)
