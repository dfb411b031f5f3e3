"""Pitch: a notehead's staff position read through the active clef, key signature and accidentals.

Staff positions are in half spaces with 0 = bottom line and 8 = top line (the `Staff.position`
contract of `staff.py`). A pitch is counted as a diatonic index (octave * 7 + step), so a
clef is just "this diatonic index sits at this staff position".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from detector.reconstruct.rules import EngravingRules

STEPS: tuple[str, ...] = ("C", "D", "E", "F", "G", "A", "B")

#: Clef class -> (MusicXML sign, line counted from the bottom, diatonic index on that line).
CLEFS: dict[str, tuple[str, int, int]] = {
    "clefG": ("G", 2, 4 * 7 + 4),  # G4 on the 2nd line
    "clefF": ("F", 4, 3 * 7 + 3),  # F3 on the 4th line
    "clefCAlto": ("C", 3, 4 * 7 + 0),  # C4 on the middle line
    "clefCTenor": ("C", 4, 4 * 7 + 0),  # C4 on the 4th line
    "clefUnpitchedPercussion": ("percussion", 3, 4 * 7 + 6),  # read as treble: B4 mid line
}

#: The order in which key signatures add sharps and flats.
SHARP_ORDER: str = "FCGDAEB"
FLAT_ORDER: str = "BEADGCF"

#: Accidental class (without the "Small" suffix) -> semitone alteration.
ACCIDENTAL_ALTER: dict[str, int] = {
    "accidentalSharp": 1,
    "accidentalFlat": -1,
    "accidentalNatural": 0,
    "accidentalDoubleSharp": 2,
    "accidentalDoubleFlat": -2,
}

#: MusicXML <accidental> text for an alteration.
ACCIDENTAL_NAME: dict[int, str] = {
    1: "sharp", -1: "flat", 0: "natural", 2: "double-sharp", -2: "flat-flat",
}


@dataclass(frozen=True)
class Clef:
    """A clef as it reads pitches: the diatonic index found on its line."""

    class_name: str
    octave_change: int = 0  # +1 / -1 for a clef with an 8 above / below (15: +-2)
    line_override: Optional[int] = None  # line read from the box (baritone F, soprano C, ...)
    # the octave was guessed from how far the box reaches (no clef8/clef15 mark): a vote across
    # the part's systems may overrule it (reading.py); not part of the clef's identity
    octave_guessed: bool = field(default=False, compare=False)

    @property
    def sign(self) -> str:
        return CLEFS[self.class_name][0]

    @property
    def line(self) -> int:
        return self.line_override or CLEFS[self.class_name][1]

    def diatonic_index(self, position: int) -> int:
        """Diatonic index (octave * 7 + step) of a note at `position` half spaces."""
        ref_position = 2 * (self.line - 1)
        return CLEFS[self.class_name][2] + (position - ref_position) + 7 * self.octave_change


TREBLE = Clef("clefG")


def clef_from_box(class_name: str, bottom: float, top: float, octave_mark: Optional[int],
                  rules: Optional[EngravingRules] = None) -> Clef:
    """The clef a box shows: its line from the box (an F clef's top, a C clef's centre) and,
    without a separate octave mark, its octave from how far the box reaches past the plain
    glyph's (``rules.clef_reach_hs``, ``rules.octave_overshoot_hs``).

    bottom, top: staff positions of the box's lower and upper edge (half spaces).
    """
    rules = rules or EngravingRules()
    reach, overshoot = rules.clef_reach_hs, rules.octave_overshoot_hs
    line_position = 2 * (CLEFS[class_name][1] - 1) if class_name in CLEFS else 2
    if class_name == "clefF":
        line_position = 2 * int(round((top - rules.f_clef_top_hs) / 2))
    elif class_name in ("clefCAlto", "clefCTenor"):
        line_position = 2 * int(round((top + bottom) / 4))
    line = min(5, max(1, line_position // 2 + 1))
    octave = octave_mark
    if octave is None and class_name in reach:
        below, above = reach[class_name]
        low, high = bottom - line_position, top - line_position
        octave = -1 if low < below - overshoot and high <= above + overshoot else (
            1 if high > above + overshoot and low >= below - overshoot else 0)
    default_line = CLEFS[class_name][1] if class_name in CLEFS else None
    return Clef(class_name, octave or 0, line if line != default_line else None,
                octave_guessed=octave_mark is None and class_name in reach)


@dataclass(frozen=True)
class Pitch:
    """A spelled pitch: step letter, octave (C4 = middle C) and semitone alteration."""

    step: str
    octave: int
    alter: int = 0

    def name(self) -> str:
        """Readable name for overlays: 'C5', 'F#4', 'Bb3', 'Ebb2'."""
        sign = {1: "#", 2: "x", -1: "b", -2: "bb"}.get(self.alter, "")
        return f"{self.step}{sign}{self.octave}"

    def midi(self) -> int:
        """MIDI number (C4 = 60): the pitch as it sounds, for comparisons."""
        semitones = (0, 2, 4, 5, 7, 9, 11)[STEPS.index(self.step)]
        return 12 * (self.octave + 1) + semitones + self.alter


def key_alterations(fifths: int) -> dict[str, int]:
    """Steps altered by a key signature of `fifths` (+ sharps, - flats): {'F': 1, 'C': 1}."""
    if fifths >= 0:
        return {step: 1 for step in SHARP_ORDER[: min(fifths, 7)]}
    return {step: -1 for step in FLAT_ORDER[: min(-fifths, 7)]}


def snap_position(position: float, on_line: Optional[bool]) -> int:
    """Round a staff position, honouring the OnLine/InSpace half of the notehead class.

    A notehead class says whether it sits on a line (even position) or in a space (odd), so
    the rounding only has to choose between the two neighbours of the right parity: this
    halves the error a slightly misplaced box can make.
    """
    if on_line is None:
        return int(round(position))
    parity = 0 if on_line else 1
    base = int(round((position - parity) / 2.0))
    return 2 * base + parity


def notehead_on_line(class_name: str) -> Optional[bool]:
    """True for *OnLine* noteheads, False for *InSpace*, None when the class does not say."""
    if "OnLine" in class_name:
        return True
    if "InSpace" in class_name:
        return False
    return None


@dataclass
class MeasureAccidentals:
    """The alterations in force inside one measure of one staff.

    An accidental holds for the rest of the measure at that staff position (step and octave);
    a natural cancels both an earlier accidental and the key signature. A new measure starts
    from the key signature again.
    """

    key: dict[str, int] = field(default_factory=dict)
    local: dict[tuple[str, int], int] = field(default_factory=dict)

    def pitch(self, clef: Clef, position: int, accidental: Optional[int]) -> Pitch:
        """Spell the note at `position`; `accidental` is the alteration written before it."""
        index = clef.diatonic_index(position)
        step, octave = STEPS[index % 7], index // 7
        if accidental is not None:
            self.local[(step, octave)] = accidental
            return Pitch(step, octave, accidental)
        alter = self.local.get((step, octave), self.key.get(step, 0))
        return Pitch(step, octave, alter)
