"""DeepScoresV2 class names, aliases and the named class presets.

Classes are always selected by NAME, never by numeric id: DSv2 releases disagree on both
ids and spellings (the sample file says ``legerLine``, the published list ``ledgerLine``).
Every name in this package is the canonical (published) spelling; ``canonical_name``
maps the aliases onto it.
"""
from __future__ import annotations

import difflib
from typing import Sequence

# DeepScoresV2 `deepscores` annotation set: (id, name) exactly as the dataset ships them.
# Generated from the real sample file; do not edit by hand.
DSV2_CATEGORIES: tuple[tuple[int, str], ...] = (
    (1, 'brace'),
    (2, 'legerLine'),
    (3, 'repeatDot'),
    (4, 'segno'),
    (5, 'coda'),
    (6, 'clefG'),
    (7, 'clefCAlto'),
    (8, 'clefCTenor'),
    (9, 'clefF'),
    (10, 'clefUnpitchedPercussion'),
    (11, 'clef8'),
    (12, 'clef15'),
    (13, 'timeSig0'),
    (14, 'timeSig1'),
    (15, 'timeSig2'),
    (16, 'timeSig3'),
    (17, 'timeSig4'),
    (18, 'timeSig5'),
    (19, 'timeSig6'),
    (20, 'timeSig7'),
    (21, 'timeSig8'),
    (22, 'timeSig9'),
    (23, 'timeSigCommon'),
    (24, 'timeSigCutCommon'),
    (25, 'noteheadBlackOnLine'),
    (26, 'noteheadBlackOnLineSmall'),
    (27, 'noteheadBlackInSpace'),
    (28, 'noteheadBlackInSpaceSmall'),
    (29, 'noteheadHalfOnLine'),
    (30, 'noteheadHalfOnLineSmall'),
    (31, 'noteheadHalfInSpace'),
    (32, 'noteheadHalfInSpaceSmall'),
    (33, 'noteheadWholeOnLine'),
    (34, 'noteheadWholeOnLineSmall'),
    (35, 'noteheadWholeInSpace'),
    (36, 'noteheadWholeInSpaceSmall'),
    (37, 'noteheadDoubleWholeOnLine'),
    (38, 'noteheadDoubleWholeOnLineSmall'),
    (39, 'noteheadDoubleWholeInSpace'),
    (40, 'noteheadDoubleWholeInSpaceSmall'),
    (41, 'augmentationDot'),
    (42, 'stem'),
    (43, 'tremolo1'),
    (44, 'tremolo2'),
    (45, 'tremolo3'),
    (46, 'tremolo4'),
    (47, 'tremolo5'),
    (48, 'flag8thUp'),
    (49, 'flag8thUpSmall'),
    (50, 'flag16thUp'),
    (51, 'flag32ndUp'),
    (52, 'flag64thUp'),
    (53, 'flag128thUp'),
    (54, 'flag8thDown'),
    (55, 'flag8thDownSmall'),
    (56, 'flag16thDown'),
    (57, 'flag32ndDown'),
    (58, 'flag64thDown'),
    (59, 'flag128thDown'),
    (60, 'accidentalFlat'),
    (61, 'accidentalFlatSmall'),
    (62, 'accidentalNatural'),
    (63, 'accidentalNaturalSmall'),
    (64, 'accidentalSharp'),
    (65, 'accidentalSharpSmall'),
    (66, 'accidentalDoubleSharp'),
    (67, 'accidentalDoubleFlat'),
    (68, 'keyFlat'),
    (69, 'keyNatural'),
    (70, 'keySharp'),
    (71, 'articAccentAbove'),
    (72, 'articAccentBelow'),
    (73, 'articStaccatoAbove'),
    (74, 'articStaccatoBelow'),
    (75, 'articTenutoAbove'),
    (76, 'articTenutoBelow'),
    (77, 'articStaccatissimoAbove'),
    (78, 'articStaccatissimoBelow'),
    (79, 'articMarcatoAbove'),
    (80, 'articMarcatoBelow'),
    (81, 'fermataAbove'),
    (82, 'fermataBelow'),
    (83, 'caesura'),
    (84, 'restDoubleWhole'),
    (85, 'restWhole'),
    (86, 'restHalf'),
    (87, 'restQuarter'),
    (88, 'rest8th'),
    (89, 'rest16th'),
    (90, 'rest32nd'),
    (91, 'rest64th'),
    (92, 'rest128th'),
    (93, 'restHNr'),
    (94, 'dynamicP'),
    (95, 'dynamicM'),
    (96, 'dynamicF'),
    (97, 'dynamicS'),
    (98, 'dynamicZ'),
    (99, 'dynamicR'),
    (100, 'graceNoteAcciaccaturaStemUp'),
    (101, 'graceNoteAppoggiaturaStemUp'),
    (102, 'graceNoteAcciaccaturaStemDown'),
    (103, 'graceNoteAppoggiaturaStemDown'),
    (104, 'ornamentTrill'),
    (105, 'ornamentTurn'),
    (106, 'ornamentTurnInverted'),
    (107, 'ornamentMordent'),
    (108, 'stringsDownBow'),
    (109, 'stringsUpBow'),
    (110, 'arpeggiato'),
    (111, 'keyboardPedalPed'),
    (112, 'keyboardPedalUp'),
    (113, 'tuplet3'),
    (114, 'tuplet6'),
    (115, 'fingering0'),
    (116, 'fingering1'),
    (117, 'fingering2'),
    (118, 'fingering3'),
    (119, 'fingering4'),
    (120, 'fingering5'),
    (121, 'slur'),
    (122, 'beam'),
    (123, 'tie'),
    (124, 'restHBar'),
    (125, 'dynamicCrescendoHairpin'),
    (126, 'dynamicDiminuendoHairpin'),
    (127, 'tuplet1'),
    (128, 'tuplet2'),
    (129, 'tuplet4'),
    (130, 'tuplet5'),
    (131, 'tuplet7'),
    (132, 'tuplet8'),
    (133, 'tuplet9'),
    (134, 'tupletBracket'),
    (135, 'staff'),
    (136, 'ottavaBracket'),
)

#: Spellings seen in DSv2 releases -> canonical name used everywhere in this package.
ALIASES: dict[str, str] = {"legerLine": "ledgerLine"}

#: Canonical names of the deepscores set, in id order.
DSV2_CLASS_NAMES: tuple[str, ...] = tuple(ALIASES.get(n, n) for _, n in DSV2_CATEGORIES)

#: Canonical name -> DSv2 deepscores id (1-136); used as COCO category ids.
DSV2_ID_BY_NAME: dict[str, int] = {ALIASES.get(n, n): i for i, n in DSV2_CATEGORIES}

#: Thin, rule-bound classes the Stage-2 plan does not train on; rebuilt by reconstruction.
RECONSTRUCTED_CLASSES: tuple[str, ...] = ("stem", "ledgerLine", "beam")

#: Not a symbol: the five-line staff is found by the staff-line detector instead.
NON_SYMBOL_CLASSES: tuple[str, ...] = ("staff",)

#: Stage-2: every deepscores class except the reconstructed ones and the staff.
STAGE2_CLASSES: tuple[str, ...] = tuple(
    n for n in DSV2_CLASS_NAMES if n not in RECONSTRUCTED_CLASSES + NON_SYMBOL_CLASSES
)

#: Named presets a config may give instead of an explicit list.
CLASS_PRESETS: dict[str, tuple[str, ...]] = {
    "stage2": STAGE2_CLASSES,
    "all": DSV2_CLASS_NAMES,
}


class UnknownClassError(ValueError):
    """A class name that is not a DeepScoresV2 class (the message lists the closest names)."""


def canonical_name(name: str) -> str:
    """Return the canonical DSv2 spelling of ``name`` (``legerLine`` -> ``ledgerLine``).

    Raises:
        UnknownClassError: ``name`` is not a DSv2 class; the message names the closest ones.
    """
    name = ALIASES.get(name, name)
    if name not in DSV2_ID_BY_NAME:
        close = difflib.get_close_matches(name, list(DSV2_ID_BY_NAME) + list(ALIASES), n=5, cutoff=0.5)
        hint = f"; closest: {', '.join(close)}" if close else ""
        raise UnknownClassError(f"{name!r} is not a DeepScoresV2 class{hint}")
    return name


def resolve_classes(spec: str | Sequence[str]) -> tuple[str, ...]:
    """Turn a preset name (``"stage2"``) or an explicit list of names into canonical names.

    The order of an explicit list is kept (it defines the model's label indices); duplicates
    after aliasing are an error because two labels for one class would split its training.
    """
    if isinstance(spec, str):
        if spec in CLASS_PRESETS:
            return CLASS_PRESETS[spec]
        close = difflib.get_close_matches(spec, list(CLASS_PRESETS), n=3, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else f"; presets: {', '.join(CLASS_PRESETS)}"
        raise UnknownClassError(f"unknown class preset {spec!r}{hint}")
    names = tuple(canonical_name(n) for n in spec)
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise UnknownClassError(f"class {n!r} is listed twice (after aliasing)")
        seen.add(n)
    if not names:
        raise UnknownClassError("the class list is empty")
    return names
