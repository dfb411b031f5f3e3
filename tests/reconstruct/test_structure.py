"""The stage's entry point: input symbols in, staves + stems + ledger lines out, in DSv2/COCO form."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
from PIL import Image

from detector.data.classes import DSV2_ID_BY_NAME
from detector.data.deepscores import parse_deepscores
from detector.reconstruct.overlay import LEDGER_COLOUR, STAFF_COLOUR, STEM_COLOUR, save_overlay
from detector.reconstruct.structure import REPLACED_CLASSES, reconstruct_structure
from detector.reconstruct.symbols import (
    Symbol, symbols_from_coco_results, symbols_from_page, symbols_to_dsv2_annotations,
)
from tests.reconstruct.structure_pages import REAL_JSON, real_page, real_result, synthetic_results


def test_output_holds_the_input_symbols_and_the_rebuilt_ones():
    page, _ = real_page()
    result = real_result()
    kept_input = Counter(n for n in page.class_names if n not in REPLACED_CLASSES)
    output = Counter(s.class_name for s in result.symbols)
    # every input symbol but the replaced classes is passed through unchanged
    for name, count in kept_input.items():
        assert output[name] == count
    # and the rebuilt classes are the reconstruction's own
    assert output["staff"] == len(result.staves) == 12
    assert output["stem"] == len(result.stems)
    assert output["ledgerLine"] == len(result.ledgers)


def test_coco_results_use_dsv2_ids_and_read_back_the_same():
    result = real_result()
    results = result.to_coco_results(image_id=410)
    assert {r["category_id"] for r in results} >= {DSV2_ID_BY_NAME["stem"], DSV2_ID_BY_NAME["ledgerLine"]}
    back = symbols_from_coco_results(results, image_id=410)
    assert [s.class_name for s in back] == [s.class_name for s in result.symbols]
    assert np.allclose([s.box for s in back], [s.box for s in result.symbols])


def test_dsv2_annotations_read_back_with_the_dataset_loader():
    # given the output written as a DSv2 annotation table in the real file's schema
    result = real_result()
    data = json.loads(REAL_JSON.read_text())
    data["annotations"] = symbols_to_dsv2_annotations(result.symbols, image_id=410)
    data["images"][0]["ann_ids"] = list(data["annotations"])
    # when loaded by the dataset reader; then every symbol is there with its class
    split = parse_deepscores(data, REAL_JSON, REAL_JSON.parent / "images", check_images=False)
    assert Counter(split.pages[0].class_names) == Counter(s.class_name for s in result.symbols)


def test_the_box_frame_is_measured_from_the_noteheads(synthetic_dataset):
    # DSv2's boxes sit 2-2.5 px above the ink at the top of the sample page, ~1 px at the bottom
    frame = real_result().frame
    assert -2.9 < frame.dy_at(200) < -1.9 and -1.6 < frame.dy_at(3500) < -0.4
    # the synthetic generator's boxes sit on the ink
    for _, result in synthetic_results(synthetic_dataset):
        assert abs(result.frame.dy_at(1500)) < 0.6


def test_low_score_noteheads_are_skipped_and_counted():
    page, gray = real_page()
    symbols = [Symbol(s.class_name, s.box, 0.1 if s.class_name.startswith("notehead") else 1.0, s.id)
               for s in symbols_from_page(page)]
    result = reconstruct_structure(gray, symbols, min_notehead_score=0.3)
    assert result.stems == [] and result.ledgers == []
    noteheads = sum(n.startswith("notehead") for n in page.class_names)
    assert result.skipped["notehead below score threshold"] == noteheads


def test_blank_and_noise_pages_give_no_staves_a_reason_and_keep_the_symbols():
    symbols = [Symbol("noteheadBlackOnLine", (100.0, 100.0, 120.0, 116.0), 0.9, "a")]
    blank = np.full((600, 500), 255, np.uint8)
    noise = np.random.default_rng(1).integers(0, 256, (600, 500)).astype(np.uint8)
    for gray in (blank, noise):
        result = reconstruct_structure(gray, symbols)
        assert result.staves == [] and result.stems == [] and result.ledgers == []
        assert result.staff_detection.reason.startswith("no staves found")
        assert result.symbols == symbols


def test_overlay_draws_staves_stems_and_ledger_lines_in_their_colours(tmp_path):
    _, gray = real_page()
    path = save_overlay(gray, real_result(), tmp_path / "overlay" / "page.png")
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(np.int32)  # [H, W, 3]
    packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    for r, g, b in (STAFF_COLOUR, STEM_COLOUR, LEDGER_COLOUR):
        assert (packed == (r << 16 | g << 8 | b)).sum() > 100
