"""Procedural passages (written as MEI) for the symbols real music rarely shows.

Each passage draws, from the seed: one to three staves with any clef (G, F, alto, tenor,
octave clefs), key signatures up to seven sharps or flats, time signatures including common
and cut time, and measures filled exactly with notes and rests of every duration (breve to
128th, dotted and double-dotted), tremolos, flags up and down, beams, chords, triplets, grace notes,
all accidentals (double ones included), ledger-line extremes, clef / key / meter changes,
articulations, dynamics, hairpins, slurs, octave lines, fermatas, ornaments and pedal marks.
"""
from __future__ import annotations

import re
from xml.sax.saxutils import quoteattr

import numpy as np

from detector.data.synth.corpus import Piece

#: Duration unit: a 128th note. Values of MEI @dur in those units.
DUR_UNITS = {"breve": 256, "1": 128, "2": 64, "4": 32, "8": 16, "16": 8, "32": 4, "64": 2, "128": 1}
WHOLE = DUR_UNITS["1"]
#: Clef -> (MEI attributes, diatonic index of the bottom staff line; C0 = 0).
CLEFS = {
    "G": ('clef.shape="G" clef.line="2"', 30),
    "F": ('clef.shape="F" clef.line="4"', 18),
    "alto": ('clef.shape="C" clef.line="3"', 24),
    "tenor": ('clef.shape="C" clef.line="4"', 22),
    "G8vb": ('clef.shape="G" clef.line="2" clef.dis="8" clef.dis.place="below"', 23),
    "F8vb": ('clef.shape="F" clef.line="4" clef.dis="8" clef.dis.place="below"', 11),
    "G15mb": ('clef.shape="G" clef.line="2" clef.dis="15" clef.dis.place="below"', 16),
}
CLEF_WEIGHTS = {"G": 0.34, "F": 0.24, "alto": 0.14, "tenor": 0.1, "G8vb": 0.1, "F8vb": 0.05, "G15mb": 0.03}
#: (count, unit, symbol or None) time signatures.
METERS = [(4, 4, None), (3, 4, None), (2, 4, None), (6, 8, None), (2, 2, None), (3, 8, None),
          (5, 4, None), (7, 8, None), (9, 8, None), (12, 8, None), (4, 4, "common"),
          (2, 2, "cut"), (4, 2, None), (3, 2, None), (6, 4, None), (5, 8, None), (2, 1, None)]
ACCIDENTALS = ["s", "f", "n", "x", "ff"]
ARTICS = ["acc", "stacc", "ten", "stacciss", "marc", "dnbow", "upbow"]
DYNAMICS = ["p", "f", "pp", "ff", "mf", "mp", "sfz", "fp", "sf", "rfz", "ppp", "fff", "fz", "sfp"]
PNAMES = "cdefgab"


def _pitch(diatonic: int) -> tuple[str, int]:
    return PNAMES[diatonic % 7], diatonic // 7


class _PassageWriter:
    """Writes one passage's MEI text; all choices come from ``rng``."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.counter = 0
        self.slurs: list[str] = []  # slur elements of the current measure (by note ids)

    def next_id(self) -> str:
        self.counter += 1
        return f"p{self.counter}"

    def choice(self, items, p=None):
        return items[int(self.rng.choice(len(items), p=p))]

    def chance(self, prob: float) -> bool:
        return bool(self.rng.random() < prob)

    def note_xml(self, dur: str, dots: int, bottom: int, extreme: bool, beamed: bool, grace: bool = False) -> str:
        """One note (or a chord) at a random staff position; ledger extremes when asked."""
        low, high = (-12, 20) if extreme else (-3, 11)
        positions = [int(self.rng.integers(low, high + 1))]
        if not grace and self.chance(0.18):
            positions += [positions[0] + int(self.rng.integers(2, 5))]
        notes = []
        for pos in positions:
            pname, octave = _pitch(bottom + pos)
            attrs = f'pname="{pname}" oct="{octave}"'
            if self.chance(0.2):
                attrs += f' accid="{self.choice(ACCIDENTALS, [0.3, 0.3, 0.2, 0.1, 0.1])}"'
            notes.append(attrs)
        note_id = self.next_id()
        head = f'xml:id="{note_id}" dur="{dur}"' + (f' dots="{dots}"' if dots else "") + (' grace="acc"' if grace else "")
        artic = ""
        if not grace and self.chance(0.15):
            artic = f'<artic artic="{self.choice(ARTICS)}"/>'
        if grace:
            head += ' stem.dir="up"'
        elif not beamed and self.chance(0.3):
            head += f' stem.dir="{self.choice(["up", "down"])}"'
        if len(notes) == 1:
            return f"<note {head} {notes[0]}>{artic}</note>"
        inner = "".join(f"<note {n}/>" for n in notes)
        if self.chance(0.2):
            self.slurs.append(f'<arpeg plist="#{note_id}"/>')
        return f"<chord {head}>{inner}{artic}</chord>"

    def rest_xml(self, dur: str, dots: int) -> str:
        return f'<rest dur="{dur}"' + (f' dots="{dots}"' if dots else "") + "/>"

    def fill_measure(self, length: int, bottom: int, clefs_left: list[str]) -> tuple[str, int]:
        """Events whose durations add up to exactly ``length`` 128th units, and the staff's
        bottom-line diatonic index after any clef change."""
        out, left = [], length
        while left > 0:
            if clefs_left and self.chance(0.08):
                clef = clefs_left.pop()
                attrs, bottom = CLEFS[clef]
                out.append(f"<clef {attrs.replace('clef.', '')}/>")
            if left >= 32 and self.chance(0.12):
                out.append(self.tuplet(bottom))
                left -= 32
                continue
            if left >= 64 and self.chance(0.06):
                notes = "".join(self.note_xml("4", 0, bottom, False, False) for _ in range(3))
                out.append(f'<tuplet num="3" numbase="2" bracket.visible="true">{notes}</tuplet>')
                left -= 64
                continue
            if left >= 2 * DUR_UNITS["32"] and self.chance(0.25):
                group, used = self.beam_group(left, bottom)
                out.append(group)
                left -= used
                continue
            dur, dots = self.duration(left)
            if self.chance(0.05):
                out.append(self.note_xml(self.choice(["8", "16", "4", "2"], [0.55, 0.15, 0.15, 0.15]), 0, bottom, False, False, grace=True))
            if dur in ("2", "4", "8") and dots == 0 and self.chance(0.06):
                note = self.note_xml(dur, 0, bottom, False, False)
                slashes = self.choice(["1slash", "2slash", "3slash"])
                out.append("<bTrem>" + note.replace(" dur=", f' stem.mod="{slashes}" dur=', 1) + "</bTrem>")
                left -= DUR_UNITS[dur]
                continue
            if self.chance(0.3):
                out.append(self.rest_xml(dur, dots))
            else:
                out.append(self.note_xml(dur, dots, bottom, self.chance(0.15), False))
            left -= int(DUR_UNITS[dur] * (2 - 0.5 ** dots))
        return "".join(out), bottom

    def duration(self, left: int) -> tuple[str, int]:
        fits = [(d, k) for d in DUR_UNITS for k in (0, 1, 2)
                if DUR_UNITS[d] * (2 - 0.5 ** k) <= left and (DUR_UNITS[d] * (2 - 0.5 ** k)) % 1 == 0]
        fits = [(d, k) for d, k in fits if d != "128" or k == 0]
        # breves only fit the long (x/2) meters: favour them there, they are rare elsewhere
        weights = np.array([(8.0 if d == "breve" else 1.0) * (1.0 if k == 0 else 0.45 if k == 1 else 0.12) for d, k in fits])
        return fits[int(self.rng.choice(len(fits), p=weights / weights.sum()))]

    def beam_group(self, left: int, bottom: int) -> tuple[str, int]:
        durs = [d for d in ("8", "16", "32") if 2 * DUR_UNITS[d] <= left]
        weights = np.array([{"8": 0.5, "16": 0.35, "32": 0.15}[d] for d in durs])
        dur = self.choice(durs, weights / weights.sum())
        unit = DUR_UNITS[dur]
        count = int(min(left // unit, self.rng.integers(2, 5)))
        notes = [self.note_xml(dur, 0, bottom, self.chance(0.1), True) for _ in range(count)]
        if count >= 2 and self.chance(0.35):
            first, last = (re.search(r'xml:id="([^"]+)"', n).group(1) for n in (notes[0], notes[-1]))
            self.slurs.append(f'<slur startid="#{first}" endid="#{last}"/>')
        return f"<beam>{''.join(notes)}</beam>", count * unit

    def tuplet(self, bottom: int) -> str:
        """A beamed tuplet filling one quarter: a triplet of 8ths (mostly), 5 or 6 16ths."""
        num, numbase, dur = self.choice([(3, 2, "8"), (5, 4, "16"), (6, 4, "16")], [0.6, 0.2, 0.2])
        notes = "".join(self.note_xml(dur, 0, bottom, False, True) for _ in range(num))
        return f'<tuplet num="{num}" numbase="{numbase}"><beam>{notes}</beam></tuplet>'

    def control_events(self, staff: int, count: int, meter_count: int) -> str:
        """Dynamics, fermatas, ornaments and pedal marks attached by time stamp."""
        out = []
        for _ in range(count):
            tstamp = 1 + int(self.rng.integers(meter_count))
            kind = self.choice(["dynam", "fermata", "trill", "mordent", "turn", "pedal", "hairpin", "octave", "caesura", "segno", "coda"],
                               [0.32, 0.1, 0.07, 0.07, 0.07, 0.07, 0.14, 0.07, 0.03, 0.03, 0.03])
            where = f'staff="{staff}" tstamp="{tstamp}"'
            if kind == "dynam":
                out.append(f"<dynam {where}>{self.choice(DYNAMICS)}</dynam>")
            elif kind == "fermata":
                out.append(f'<fermata {where} place="{self.choice(["above", "below"])}"/>')
            elif kind == "mordent":
                out.append(f'<mordent {where} form="{self.choice(["lower", "upper"])}"/>')
            elif kind == "turn":
                out.append(f'<turn {where} form="{self.choice(["upper", "lower"])}"/>')
            elif kind == "pedal":
                out.append(f'<pedal {where} dir="{self.choice(["down", "up"])}"/>')
            elif kind in ("segno", "coda"):
                out.append(f'<repeatMark {where} func="{kind}"/>')
            elif kind == "caesura":
                out.append(f"<caesura {where}/>")
            elif kind == "hairpin":
                end = min(meter_count + 0.5, tstamp + 1 + int(self.rng.integers(meter_count)))
                out.append(f'<hairpin {where} tstamp2="0m+{end}" form="{self.choice(["cres", "dim"])}"/>')
            elif kind == "octave":
                place = self.choice(["above", "below"])
                out.append(f'<octave {where} tstamp2="0m+{meter_count}" dis="8" dis.place="{place}"/>')
            else:
                out.append(f"<trill {where}/>")
        return "".join(out)


def _draw_meter(rng: np.random.Generator):
    """A time signature; the meters a breve fits in (4/2, 2/1) are drawn four times as often."""
    weights = np.array([4.0 if count * WHOLE // unit >= DUR_UNITS["breve"] else 1.0 for count, unit, _ in METERS])
    return METERS[int(rng.choice(len(METERS), p=weights / weights.sum()))]


def _meter_attrs(meter) -> str:
    count, unit, sym = meter
    return f'meter.count="{count}" meter.unit="{unit}"' + (f' meter.sym="{sym}"' if sym else "")


def _key_attr(fifths: int) -> str:
    return 'key.sig="0"' if fifths == 0 else f'key.sig="{abs(fifths)}{"s" if fifths > 0 else "f"}"'


def procedural_piece(rng: np.random.Generator, key: str) -> Piece:
    """One procedural passage as MEI text (a Piece of its own for the split)."""
    w = _PassageWriter(rng)
    n_staves = int(rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15]))
    clef_names = list(CLEFS)
    clef_p = np.array([CLEF_WEIGHTS[c] for c in clef_names])
    clefs = [clef_names[int(rng.choice(len(clef_names), p=clef_p))] for _ in range(n_staves)]
    meter = _draw_meter(rng)
    fifths = int(rng.integers(-7, 8))
    staff_defs = "".join(
        f'<staffDef n="{i + 1}" lines="5" {CLEFS[c][0]} {_key_attr(fifths)} {_meter_attrs(meter)}/>' for i, c in enumerate(clefs)
    )
    group = ' symbol="brace" bar.thru="true"' if n_staves == 2 and w.chance(0.6) else ""
    body = []
    bottoms = [CLEFS[c][1] for c in clefs]
    n_measures = int(rng.integers(10, 24))
    for m in range(n_measures):
        if m > 0 and w.chance(0.12):
            fifths = int(rng.integers(-7, 8))
            meter = _draw_meter(rng)
            body.append(f"<scoreDef {_key_attr(fifths)} {_meter_attrs(meter)}/>")
        length = meter[0] * WHOLE // meter[1]
        staves, controls = [], []
        for s in range(n_staves):
            changes = [w.choice(clef_names)] if w.chance(0.1) else []
            layer, bottoms[s] = w.fill_measure(length, bottoms[s], changes)
            staves.append(f'<staff n="{s + 1}"><layer n="1">{layer}</layer></staff>')
            if w.chance(0.5):
                controls.append(w.control_events(s + 1, 1 + int(rng.integers(2)), meter[0]))
            controls += w.slurs
            w.slurs = []
        body.append(f'<measure n="{m + 1}">{"".join(staves)}{"".join(controls)}</measure>')
    mei = (
        '<?xml version="1.0" encoding="UTF-8"?><mei xmlns="http://www.music-encoding.org/ns/mei" meiversion="5.0">'
        f"<meiHead><fileDesc><titleStmt><title>{quoteattr(key)[1:-1]}</title></titleStmt><pubStmt/></fileDesc></meiHead>"
        f'<music><body><mdiv><score><scoreDef><staffGrp{group}>{staff_defs}</staffGrp></scoreDef>'
        f'<section>{"".join(body)}</section></score></mdiv></body></music></mei>'
    )
    return Piece(key=key, data=mei)
