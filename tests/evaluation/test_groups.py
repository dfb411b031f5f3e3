"""Every DSv2 class lands in exactly one user group."""
from __future__ import annotations

import pytest

from detector.data.classes import DSV2_CLASS_NAMES, STAGE2_CLASSES, UnknownClassError
from detector.evaluation.groups import CLASS_GROUP, GROUPS, class_group, group_members


def test_every_stage2_class_has_a_group_and_every_named_group_has_classes():
    members = group_members(STAGE2_CLASSES)
    assert sum(len(names) for names in members.values()) == len(STAGE2_CLASSES)
    assert all(members[group] for group in GROUPS), [g for g in GROUPS if not members[g]]


def test_every_dsv2_class_including_the_reconstructed_ones_has_a_group():
    assert set(CLASS_GROUP) == set(DSV2_CLASS_NAMES)
    assert set(CLASS_GROUP.values()) <= set(GROUPS)
    assert class_group("stem") == "other" and class_group("legerLine") == "other"  # alias accepted


@pytest.mark.parametrize("name, group", [
    ("noteheadBlackOnLineSmall", "noteheads"),
    ("clef8", "clefs"),
    ("restHBar", "rests"),
    ("accidentalDoubleFlat", "accidentals"),
    ("keySharp", "key signatures"),
    ("keyboardPedalPed", "other"),  # starts with "key" but is no key signature
    ("timeSigCutCommon", "time signatures"),
    ("flag128thDown", "flags"),
    ("augmentationDot", "dots"),
    ("repeatDot", "dots"),
    ("articStaccatoBelow", "articulations"),
    ("fermataAbove", "articulations"),
    ("dynamicDiminuendoHairpin", "dynamics"),
    ("tuplet3", "other"),
])
def test_classes_go_where_a_musician_looks_for_them(name, group):
    assert class_group(name) == group


def test_an_unknown_name_is_an_error():
    with pytest.raises(UnknownClassError, match="noteheadBlak"):
        class_group("noteheadBlak")
