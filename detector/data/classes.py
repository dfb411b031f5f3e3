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


# --------------------------------------------------------------------------- full category table
# Appended for the synthetic generator, which writes the same 208-entry table as the real file.
# Generated from the real sample file; do not edit by hand.

#: DSv2 `deepscores` id -> the `color` value the real file gives it.
DSV2_COLOR_BY_ID: dict[int, int] = {1: 1, 2: 2, 3: 7, 4: 8, 5: 9, 6: 10, 7: 11, 8: 12, 9: 13, 10: 14, 11: 19, 12: 20, 13: 21, 14: 22, 15: 23, 16: 24, 17: 25, 18: 26, 19: 27, 20: 28, 21: 29, 22: 30, 23: 33, 24: 34, 25: 35, 26: 36, 27: 37, 28: 38, 29: 39, 30: 40, 31: 41, 32: 42, 33: 43, 34: 44, 35: 45, 36: 46, 37: 47, 38: 48, 39: 49, 40: 50, 41: 51, 42: 52, 43: 53, 44: 54, 45: 55, 46: 56, 47: 57, 48: 58, 49: 59, 50: 60, 51: 61, 52: 62, 53: 63, 54: 64, 55: 65, 56: 66, 57: 67, 58: 68, 59: 69, 60: 70, 61: 71, 62: 72, 63: 73, 64: 74, 65: 75, 66: 76, 67: 77, 68: 78, 69: 79, 70: 80, 71: 81, 72: 82, 73: 83, 74: 84, 75: 85, 76: 86, 77: 87, 78: 88, 79: 89, 80: 90, 81: 91, 82: 92, 83: 93, 84: 96, 85: 97, 86: 98, 87: 99, 88: 100, 89: 101, 90: 102, 91: 103, 92: 104, 93: 105, 94: 170, 95: 171, 96: 172, 97: 173, 98: 174, 99: 175, 100: 123, 101: 124, 102: 125, 103: 126, 104: 127, 105: 128, 106: 129, 107: 130, 108: 131, 109: 132, 110: 133, 111: 134, 112: 135, 113: 136, 114: 137, 115: 138, 116: 139, 117: 140, 118: 141, 119: 142, 120: 143, 121: 145, 122: 146, 123: 147, 124: 163, 125: 168, 126: 169, 127: 149, 128: 150, 129: 151, 130: 152, 131: 153, 132: 154, 133: 155, 134: 156, 135: 165, 136: 166}

#: The `muscima++` annotation set of the real file: (id, name, color).
MUSCIMA_CATEGORIES: tuple[tuple[int, str, int], ...] = (
    (137, 'brace', 1),
    (138, 'legerLine', 2),
    (139, 'repeatDot', 7),
    (140, 'segno', 8),
    (141, 'coda', 9),
    (142, 'clefG', 10),
    (143, 'clefC', 12),
    (144, 'clefF', 13),
    (145, 'numeral8', 29),
    (146, 'numeral0', 138),
    (147, 'numeral1', 139),
    (148, 'numeral2', 140),
    (149, 'numeral3', 141),
    (150, 'numeral4', 142),
    (151, 'numeral5', 143),
    (152, 'numeral6', 27),
    (153, 'numeral7', 28),
    (154, 'numeral9', 30),
    (155, 'timeSigCommon', 33),
    (156, 'timeSigCutCommon', 34),
    (157, 'noteheadFullSmall', 38),
    (158, 'noteheadHalfSmall', 42),
    (159, 'noteheadWhole', 46),
    (160, 'augmentationDot', 51),
    (161, 'stem', 52),
    (162, 'tremoloMark', 57),
    (163, 'flag8thUp', 59),
    (164, 'flag16thUp', 60),
    (165, 'flag32ndUp', 61),
    (166, 'flag64thUp', 62),
    (167, 'flag8thDown', 65),
    (168, 'flag16thDown', 66),
    (169, 'flag32ndDown', 67),
    (170, 'flag64thDown', 68),
    (171, 'accidentalFlat', 78),
    (172, 'accidentalNatural', 79),
    (173, 'accidentalSharp', 80),
    (174, 'accidentalDoubleSharp', 76),
    (175, 'accidentalDoubleFlat', 77),
    (176, 'articulationAccent', 82),
    (177, 'articulationStaccato', 84),
    (178, 'articulationTenuto', 86),
    (179, 'articulationMarcatoAbove', 89),
    (180, 'articulationMarcatoBelow', 90),
    (181, 'fermataAbove', 91),
    (182, 'fermataBelow', 92),
    (183, 'restWhole', 97),
    (184, 'restHalf', 98),
    (185, 'restQuarter', 99),
    (186, 'rest8th', 100),
    (187, 'rest16th', 101),
    (188, 'rest32nd', 102),
    (189, 'rest64th', 103),
    (190, 'numeral', 105),
    (191, 'dynamicLetterP', 170),
    (192, 'dynamicLetterM', 171),
    (193, 'dynamicLetterF', 172),
    (194, 'dynamicLetterS', 173),
    (195, 'dynamicLetterZ', 174),
    (196, 'dynamicLetterR', 175),
    (197, 'graceNoteAcciaccatura', 126),
    (198, 'ornamentTrill', 127),
    (199, 'arpeggio', 133),
    (200, 'slur', 145),
    (201, 'beam', 146),
    (202, 'tie', 147),
    (203, 'restHBar', 163),
    (204, 'dynamicCrescendoHairpin', 168),
    (205, 'dynamicDiminuendoHairpin', 169),
    (206, 'tuple', 155),
    (207, 'tupleBracket', 156),
    (208, 'staff', 165),
)

#: DSv2 `deepscores` id -> its `muscima++` id (None: no counterpart), the second `cat_id`.
#: Pairs seen in the real file are exact; the others follow the file's category order.
MUSCIMA_ID_BY_DSV2_ID: dict[int, int | None] = {
    1: 137, 2: 138, 3: 139, 4: 140, 5: 141, 6: 142, 7: 143, 8: 143, 9: 144, 10: None, 11: 145,
    12: None, 13: 146, 14: 147, 15: 148, 16: 149, 17: 150, 18: 151, 19: 152, 20: 153, 21: 145,
    22: 154, 23: 155, 24: 156, 25: 157, 26: 157, 27: 157, 28: 157, 29: 158, 30: 158, 31: 158,
    32: 158, 33: 159, 34: 159, 35: 159, 36: 159, 37: 159, 38: 159, 39: 159, 40: 159, 41: 160,
    42: 161, 43: 162, 44: 162, 45: 162, 46: 162, 47: 162, 48: 163, 49: 163, 50: 164, 51: 165,
    52: 166, 53: None, 54: 167, 55: 167, 56: 168, 57: 169, 58: 170, 59: None, 60: 171, 61: 171,
    62: 172, 63: 172, 64: 173, 65: 173, 66: 174, 67: 175, 68: 171, 69: 172, 70: 173, 71: 176,
    72: 176, 73: 177, 74: 177, 75: 178, 76: 178, 77: None, 78: None, 79: 179, 80: 180, 81: 181,
    82: 182, 83: None, 84: None, 85: 183, 86: 184, 87: 185, 88: 186, 89: 187, 90: 188, 91: 189,
    92: None, 93: 190, 94: 191, 95: 192, 96: 193, 97: 194, 98: 195, 99: 196, 100: 197, 101: 197,
    102: 197, 103: 197, 104: 198, 105: None, 106: None, 107: None, 108: None, 109: None, 110:
    199, 111: None, 112: None, 113: 206, 114: 206, 115: None, 116: None, 117: None, 118: None,
    119: None, 120: None, 121: 200, 122: 201, 123: 202, 124: 203, 125: 204, 126: 205, 127: 206,
    128: 206, 129: 206, 130: 206, 131: 206, 132: 206, 133: 206, 134: 207, 135: 208, 136: None
}
