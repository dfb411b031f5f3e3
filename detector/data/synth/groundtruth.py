"""Ground-truth music of a page: the engraver's MEI, reduced to a per-note JSON.

The pitch-accuracy evaluation scores reconstructed notes against ``music/<stem>.json``:
one entry per note or rest with its page staff, voice (MEI layer), measure, onset, pitch and
duration, linked to its box by ``ann_id`` (the notehead or rest annotation) and ``mei_id`` (its xml:id in
``music/<stem>.mei`` and in the annotation's ``comments``).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Optional

MEI_NS = "{http://www.music-encoding.org/ns/mei}"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
#: MEI @dur -> length in quarters.
DUR_QUARTERS = {"maxima": Fraction(32), "long": Fraction(16), "breve": Fraction(8), "1": Fraction(4), "2": Fraction(2),
                "4": Fraction(1), "8": Fraction(1, 2), "16": Fraction(1, 4), "32": Fraction(1, 8),
                "64": Fraction(1, 16), "128": Fraction(1, 32), "256": Fraction(1, 64)}
#: MEI accidental value -> semitones.
ALTER = {"s": 1, "f": -1, "n": 0, "x": 2, "ss": 2, "ff": -2, "ts": 3, "tf": -3, "nf": -1, "ns": 1,
         "su": 1, "sd": 1, "fu": -1, "fd": -1, "xs": 3, "sx": 3}
SHARP_ORDER, FLAT_ORDER = "fcgdaeb", "beadgcf"


def _tag(el: ET.Element) -> str:
    return el.tag.replace(MEI_NS, "")


def key_alterations(sig: str | None) -> dict[str, int]:
    """MEI key signature (``3s``, ``2f``, ``0``) -> {pname: semitones}."""
    if not sig or sig in ("0", "none") or len(sig) < 2:
        return {}
    count, kind = int(sig[:-1]), sig[-1]
    order, alter = (SHARP_ORDER, 1) if kind == "s" else (FLAT_ORDER, -1)
    return {p: alter for p in order[:count]}


@dataclass
class _StaffState:
    key: dict[str, int] = field(default_factory=dict)
    meter: Fraction = Fraction(4)  # quarters per measure


@dataclass
class _Event:
    """One note or rest as read from the MEI (before its box is linked)."""

    mei_id: str
    staff_id: str
    staff_n: str
    measure: int
    onset: Fraction
    step: Optional[str]
    octave: Optional[int]
    alter: Optional[int]
    dur: Fraction
    dots: int
    rest: bool
    chord: bool
    grace: bool
    voice: int = 1  # MEI layer @n within its staff: several voices per staff stay apart


class _MeiReader:
    """Walks a page's MEI in document order, keeping key and meter per staff."""

    def __init__(self):
        self.staves: dict[str, _StaffState] = {}
        self.events: list[_Event] = []
        self.voice = 1  # layer @n being read
        self.measure = -1

    def state(self, n: str) -> _StaffState:
        return self.staves.setdefault(n, _StaffState())

    def read_def(self, el: ET.Element, staff_n: str | None) -> None:
        """A scoreDef (all staves) or staffDef (one): key and meter, as attributes or children."""
        targets = [staff_n] if staff_n else list(self.staves) or []
        sig = el.get("key.sig") or el.get("keysig")  # MEI 4 spelling, and MEI 5 (Verovio's export)
        count, unit = el.get("meter.count"), el.get("meter.unit")
        for child in el:
            if _tag(child) == "keySig":
                sig = child.get("sig", sig)
            if _tag(child) == "meterSig":
                count, unit = child.get("count", count), child.get("unit", unit)
        for n in targets:
            st = self.state(n)
            if sig is not None:
                st.key = key_alterations(sig)
            if count and unit:
                try:
                    st.meter = Fraction(int(count.split("+")[0]) if "+" not in count else sum(int(c) for c in count.split("+"))) * 4 / int(unit)
                except ValueError:
                    pass

    def walk(self, el: ET.Element) -> None:
        tag = _tag(el)
        if tag == "scoreDef":
            self.read_def(el, None)
            for sd in el.iter(f"{MEI_NS}staffDef"):
                self.read_def(sd, sd.get("n"))
            return
        if tag == "staffDef":
            self.read_def(el, el.get("n"))
            return
        if tag == "measure":
            self.measure += 1
            for staff in el:
                if _tag(staff) == "staff":
                    self.read_staff(staff)
            return
        for child in el:
            self.walk(child)

    def read_staff(self, staff: ET.Element) -> None:
        n = staff.get("n", "1")
        st = self.state(n)
        for child in staff:
            if _tag(child) in ("staffDef",):
                self.read_def(child, n)
        for layer in staff:
            if _tag(layer) == "layer":
                carried: dict[tuple[str, int], int] = {}
                self.voice = int(layer.get("n", "1")) if layer.get("n", "1").isdigit() else 1
                self.read_layer(layer, staff.get(XML_ID, ""), n, st, Fraction(0), Fraction(1), carried)

    def read_layer(self, el, staff_id, n, st, onset, ratio, carried) -> Fraction:
        """Read events under ``el`` starting at ``onset``; return the onset after them."""
        for child in el:
            tag = _tag(child)
            if tag in ("beam", "ftrem", "bTrem", "fTrem", "graceGrp"):
                onset = self.read_layer(child, staff_id, n, st, onset, ratio, carried)
            elif tag == "tuplet":
                num, numbase = int(child.get("num", 3)), int(child.get("numbase", 2))
                onset = self.read_layer(child, staff_id, n, st, onset, ratio * Fraction(numbase, num), carried)
            elif tag in ("note", "chord", "rest", "space", "mRest", "mSpace"):
                onset += self.read_event(child, staff_id, n, st, onset, ratio, carried)
            elif tag == "clef" or tag == "keySig":
                if tag == "keySig":
                    st.key = key_alterations(child.get("sig"))
        return onset

    def read_event(self, el, staff_id, n, st, onset, ratio, carried) -> Fraction:
        tag = _tag(el)
        dots = int(el.get("dots", 0) or 0)
        if tag in ("mRest", "mSpace"):
            length = st.meter
        else:
            base = DUR_QUARTERS.get(el.get("dur", "4"), Fraction(1))
            length = base * (2 - Fraction(1, 2**dots)) * ratio
            if el.get("num") and el.get("numbase"):
                length = length * int(el.get("numbase")) / int(el.get("num"))
        grace = el.get("grace") is not None
        if grace:
            length = Fraction(0)
        if tag in ("rest", "mRest"):
            self.events.append(_Event(el.get(XML_ID, ""), staff_id, n, self.measure, onset, None, None, None,
                                      length, dots, True, False, False, self.voice))
        elif tag == "note":
            self.add_note(el, staff_id, n, st, onset, length, dots, False, grace, carried)
        elif tag == "chord":
            notes = [c for c in el.iter(f"{MEI_NS}note")]
            for i, note in enumerate(notes):
                self.add_note(note, staff_id, n, st, onset, length, dots, i > 0, grace, carried)
        return length

    def add_note(self, note, staff_id, n, st, onset, length, dots, chord, grace, carried) -> None:
        pname, octave = note.get("pname"), note.get("oct")
        if pname is None or octave is None:
            return
        octave = int(octave)
        written = note.get("accid") or note.get("accid.ges")
        for accid in note.iter(f"{MEI_NS}accid"):
            written = accid.get("accid") or accid.get("accid.ges") or written
        if written is not None and written in ALTER:
            alter = ALTER[written]
            carried[(pname, octave)] = alter
        else:
            alter = carried.get((pname, octave), st.key.get(pname, 0))
        self.events.append(_Event(note.get(XML_ID, ""), staff_id, n, self.measure, onset, pname.upper(), octave,
                                  alter, length, dots, False, chord, grace, self.voice))


def read_mei_events(mei: str) -> tuple[list[_Event], ET.Element]:
    """All notes and rests of a page's MEI, in document order, and the parsed root."""
    # a corpus file with a mis-decoded byte leaves lone surrogates that no XML parser takes
    root = ET.fromstring(mei.encode("utf-8", "replace"))
    reader = _MeiReader()
    for score in root.iter(f"{MEI_NS}score"):
        reader.walk(score)
    return reader.events, root


def staff_parts(root: ET.Element) -> dict[str, tuple[int, int]]:
    """Staff @n -> (part index, staff index within the part), both 0-based.

    A braced staff group (a piano, a harp) is one part; every other staff is a part of its own.
    """
    first = next(root.iter(f"{MEI_NS}staffGrp"), None)
    parts: dict[str, tuple[int, int]] = {}
    if first is None:
        return parts
    part = 0

    def visit(group: ET.Element) -> None:
        nonlocal part
        for child in group:
            tag = _tag(child)
            if tag == "staffDef":
                parts[child.get("n", "")] = (part, 0)
                part += 1
            elif tag == "staffGrp":
                symbol = child.get("symbol") or next((g.get("symbol") for g in child if _tag(g) == "grpSym"), None)
                defs = [d for d in child if _tag(d) == "staffDef"]
                if symbol == "brace" and len(defs) == len([c for c in child if _tag(c) in ("staffDef", "staffGrp")]):
                    for i, d in enumerate(defs):
                        parts[d.get("n", "")] = (part, i)
                    part += 1
                else:
                    visit(child)

    visit(first)
    return parts


def onset_order(events: list[_Event], staff_of) -> list[int]:
    """Dense rank of each event's onset within its (page staff, measure): chord notes share it."""
    onsets: dict[tuple, set] = {}
    for ev in events:
        onsets.setdefault((staff_of(ev), ev.measure), set()).add(ev.onset)
    ranks = {k: {o: i for i, o in enumerate(sorted(v))} for k, v in onsets.items()}
    return [ranks[(staff_of(ev), ev.measure)][ev.onset] for ev in events]
