"""The rules object is the one source of reconstruction's thresholds: the structure result carries
the rules it was built with, and changing one field changes how the music is read."""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from detector.reconstruct.reading import read_score
from detector.reconstruct.rules import EngravingRules
from detector.reconstruct.structure import reconstruct_structure
from detector.reconstruct.symbols import Symbol
from handmade import HandPage, triplet_bar, two_voice_bar


def _read(page: HandPage, rules: EngravingRules | None = None):
    """Structure and score of a hand-made page, read with ``rules`` (defaults when None)."""
    names, boxes = page.arrays()
    symbols = [Symbol(name, tuple(box)) for name, box in zip(names, boxes)]
    structure = reconstruct_structure(page.gray, symbols, rules=rules, staves=page.staves)
    return structure, read_score(structure)


def _durations(score) -> list[Fraction]:
    return [e.duration for m in score.staves[0].measures for e in m.events if not e.is_rest]


def test_the_structure_result_carries_its_rules_to_the_music_step():
    # given rules that differ from the defaults in one field
    rules = replace(EngravingRules(), coincident_sp=0.5)
    # when a page is reconstructed with them, then its structure result holds those very rules
    structure, _ = _read(two_voice_bar(), rules)
    assert structure.rules is rules
    # and without any, the defaults
    assert _read(two_voice_bar())[0].rules == EngravingRules()


def test_the_coincidence_distance_decides_whether_a_bar_holds_two_voices():
    # given a bar where an up-stem and a down-stem sound together at two places
    page = two_voice_bar()
    # when read with the default rules, then the bar holds two voices
    _, score = _read(page)
    assert score.staves[0].measures[0].voices() == [1, 2]
    # when nothing counts as sounding together (coincidence distance 0), then one voice
    _, score = _read(page, replace(EngravingRules(), coincident_sp=0.0))
    assert score.staves[0].measures[0].voices() == [1]


def test_the_tuplet_reach_decides_whether_a_digit_is_a_tuplet_number():
    # given a 3 about 1.25 spaces above the tips of three beamed eighths
    page = triplet_bar()
    # when read with the default reach (2.5 spaces), then the eighths are a triplet
    _, score = _read(page)
    assert _durations(score) == [Fraction(1, 3)] * 3 + [Fraction(1)]
    # when the reach is a space, then the 3 stands too far off and the eighths are plain
    _, score = _read(page, replace(EngravingRules(), tuplet_reach_sp=1.0))
    assert _durations(score) == [Fraction(1, 2)] * 3 + [Fraction(1)]
