"""DSv2 classes grouped the way musicians think of them, for the core-symbol summary.

136 per-class APs are hard to read; a user asks "how good are the noteheads, the clefs, the
rests?". Every DSv2 class belongs to exactly one group; what fits none of the named groups
(braces, tuplets, fingerings, ornaments, slurs, ...) is ``other``.
"""
from __future__ import annotations

from detector.data.classes import DSV2_CLASS_NAMES, canonical_name

#: Group names in the order reports list them.
GROUPS: tuple[str, ...] = (
    "noteheads",
    "clefs",
    "rests",
    "accidentals",
    "key signatures",
    "time signatures",
    "flags",
    "dots",
    "articulations",
    "dynamics",
    "other",
)

# Name prefix -> group, tried in order (first match wins). Prefixes are DSv2 naming
# conventions; the explicit names below catch the classes those conventions miss.
_PREFIX_GROUPS: tuple[tuple[str, str], ...] = (
    ("notehead", "noteheads"),
    ("clef", "clefs"),
    ("rest", "rests"),  # restHBar (multi-measure rest) and restHNr included
    ("accidental", "accidentals"),
    ("key", "key signatures"),  # keyFlat/keyNatural/keySharp, NOT keyboardPedal* (below)
    ("timeSig", "time signatures"),
    ("flag", "flags"),
    ("artic", "articulations"),
    ("fermata", "articulations"),
    ("dynamic", "dynamics"),  # letters p m f s z r and the hairpins
)

_EXPLICIT_GROUPS: dict[str, str] = {
    "augmentationDot": "dots",
    "repeatDot": "dots",
    "keyboardPedalPed": "other",
    "keyboardPedalUp": "other",
}


def class_group(name: str) -> str:
    """Return the user group of DSv2 class ``name`` (aliases accepted).

    Raises:
        UnknownClassError: ``name`` is not a DSv2 class.
    """
    name = canonical_name(name)
    if name in _EXPLICIT_GROUPS:
        return _EXPLICIT_GROUPS[name]
    for prefix, group in _PREFIX_GROUPS:
        if name.startswith(prefix):
            return group
    return "other"


def group_members(class_names: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """Group -> the classes of ``class_names`` in it, for every group in ``GROUPS`` order."""
    members: dict[str, list[str]] = {group: [] for group in GROUPS}
    for name in class_names:
        members[class_group(name)].append(canonical_name(name))
    return members


# Built once at import so a typo in the rules above fails loudly, not in a report.
CLASS_GROUP: dict[str, str] = {name: class_group(name) for name in DSV2_CLASS_NAMES}
