"""Given a seed, the generator makes the same bytes (with any number of workers); procedural
passages cover the rare classes."""
from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np

from detector.data.synth import generate_dataset
from detector.data.synth.boxes import parse_svg
from detector.data.synth.dynamics import split_combined_dynamics
from detector.data.synth.engrave import draw_layout, engrave, make_toolkit
from detector.data.synth.page import SVG_STAFF_SPACE
from detector.data.synth.procedural import procedural_piece

RARE_CLASSES = {
    "restWhole", "restHalf", "restQuarter", "rest8th", "rest16th", "rest32nd", "rest64th", "restDoubleWhole",
    "flag8thUp", "flag8thDown", "flag16thUp", "flag16thDown", "flag32ndUp", "flag32ndDown", "flag64thUp",
    "flag64thDown", "augmentationDot", "accidentalSharp", "accidentalFlat", "accidentalNatural",
    "accidentalDoubleSharp", "accidentalDoubleFlat", "keySharp", "keyFlat", "timeSigCommon", "timeSigCutCommon",
    "clefG", "clefF", "clefCAlto", "clefCTenor", "noteheadWholeOnLine", "noteheadWholeInSpace",
    "noteheadDoubleWholeOnLine", "noteheadDoubleWholeInSpace", "articStaccatoAbove", "articStaccatoBelow",
    "articAccentAbove", "articTenutoAbove", "dynamicP", "dynamicF", "dynamicM", "fermataAbove", "tuplet3",
    "ledgerLine", "beam", "stem", "staff", "clef8", "keyNatural", "slur", "brace", "tupletBracket",
    "dynamicCrescendoHairpin", "dynamicDiminuendoHairpin", "ottavaBracket", "ornamentTrill", "keyboardPedalPed",
    "arpeggiato", "flag128thUp", "flag128thDown", "rest128th", "tuplet5", "tuplet6", "clef15", "tremolo1",
    "tremolo2", "tremolo3", "caesura", "segno", "coda", "noteheadHalfInSpaceSmall", "accidentalSharpSmall",
}


def _hashes(root) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files_whatever_the_worker_count(tmp_path):
    # when: the same small dataset is generated twice, in this process and by two workers
    generate_dataset(tmp_path / "a", pages=2, seed=7, workers=1)
    generate_dataset(tmp_path / "b", pages=2, seed=7, workers=2)
    # then: every file (images, JSON, MEI, manifest) has the same bytes
    first, second = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert len(first) == 2 + 4 + 2 + 1
    assert first == second


def test_procedural_passages_cover_the_rare_classes():
    # given: a few procedural passages, engraved (no rasterising needed for the classes)
    toolkit = make_toolkit()
    counts: Counter = Counter()
    for index in range(14):
        rng = np.random.default_rng([11, index])
        piece = procedural_piece(rng, key=f"coverage/{index}")
        layout = draw_layout(rng)
        engrave(toolkit, piece, layout)
        svg = split_combined_dynamics(toolkit.renderToSVG(1), layout.font)
        counts.update(s.class_name for s in parse_svg(svg, layout.font, SVG_STAFF_SPACE).symbols)
    # then: every targeted rare class appears
    missing = RARE_CLASSES - set(counts)
    assert not missing, f"classes never produced: {sorted(missing)}"
