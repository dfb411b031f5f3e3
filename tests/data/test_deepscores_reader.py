"""The DSv2 reader on the real sample page and on hand-made bad input."""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from detector.data.classes import DSV2_ID_BY_NAME, UnknownClassError
from detector.data.deepscores import (
    DeepScoresFormatError,
    ImageReadError,
    load_deepscores,
    load_page_image,
    split_json_path,
)

NOTEHEAD_BLACK = DSV2_ID_BY_NAME["noteheadBlackOnLine"]
CLEF_G = DSV2_ID_BY_NAME["clefG"]


def test_sample_page_facts(sample_split):
    # given the real DSv2 sample file, loaded with every class
    (page,) = sample_split.pages
    counts = Counter(page.class_names)
    # then the page and its annotation counts are exactly those of the file
    assert (page.image_id, page.width, page.height) == (410, 2707, 3828)
    assert page.filename == "lg-5230237-aug-emmentaler--page-2.png"
    assert len(page.class_names) == 547 == len(page.ann_ids) == len(page.comments)
    assert page.boxes.shape == (547, 4) and page.obboxes.shape == (547, 8)
    assert (counts["stem"], counts["ledgerLine"], counts["beam"], counts["staff"]) == (149, 25, 18, 12)
    assert "legerLine" not in counts  # the alias is read as the canonical name
    assert not sample_split.skipped


def test_sample_boxes_are_a_bbox_as_shipped(sample_split, dsv2_sample_json):
    # given the raw JSON of the sample
    raw = json.loads(dsv2_sample_json.read_text())["annotations"]
    page = sample_split.pages[0]
    # then every box equals its a_bbox (all lie on the page) and the ids follow the file
    expected = np.array([raw[i]["a_bbox"] for i in page.ann_ids], dtype=np.float32)
    np.testing.assert_array_equal(page.boxes, expected)
    assert page.ann_ids[0] == "41408" and page.class_names[0] == "staff"


def test_stage2_filter_keeps_exactly_the_other_classes(sample_split, dsv2_sample_json):
    # when the sample is loaded with the stage2 preset
    filtered = load_deepscores(dsv2_sample_json, classes="stage2")
    names = filtered.pages[0].class_names
    # then the 343 other annotations stay and no stem/ledgerLine/beam/staff does
    assert len(names) == 547 - 149 - 25 - 18 - 12 == 343
    assert not {"stem", "ledgerLine", "beam", "staff"} & set(names)
    everything = Counter(sample_split.pages[0].class_names)
    for excluded in ("stem", "ledgerLine", "beam", "staff"):
        del everything[excluded]
    assert Counter(names) == everything
    assert filtered.class_counts_all["stem"] == 149  # counts before the filter are kept


def test_sample_image_is_gray_uint8_with_ink_on_the_noteheads(sample_split, sample_gray):
    page = sample_split.pages[0]
    assert sample_gray.shape == (3828, 2707) and sample_gray.dtype == np.uint8
    heads = page.boxes[[n == "noteheadBlackOnLine" for n in page.class_names]]
    for x0, y0, x1, y1 in heads[:10].astype(int):
        assert (sample_gray[y0:y1, x0:x1] < 100).mean() > 0.4


def test_transparent_paper_is_composited_to_white(make_dsv2, tmp_path):
    # given a page whose paper is fully transparent (the generator's format)
    make_dsv2([(40, 30, [(CLEF_G, [10, 5, 20, 25])])])
    gray = load_page_image(tmp_path / "images" / "page0.png")
    # then paper reads white and the opaque ink black
    assert gray[0, 0] == 255 and gray[10, 15] == 0


def test_unknown_class_name_lists_close_names(dsv2_sample_json):
    with pytest.raises(UnknownClassError, match="legerLine.*ledgerLine|ledgerLine.*legerLine"):
        load_deepscores(dsv2_sample_json, classes=["noteheadBlackOnLine", "legerLin"])


def test_bad_boxes_are_dropped_or_clipped_and_counted(make_dsv2):
    # given one page with a good box, an inverted box, a zero-area box, a box half off the page,
    # a box fully off the page, a non-DSv2 category id and an empty second page
    json_path = make_dsv2([
        (100, 80, [
            (NOTEHEAD_BLACK, [10, 10, 20, 20]),
            (NOTEHEAD_BLACK, [30, 10, 25, 20]),
            (NOTEHEAD_BLACK, [40, 10, 40, 20]),
            (NOTEHEAD_BLACK, [90, 70, 110, 90]),
            (NOTEHEAD_BLACK, [200, 10, 210, 20]),
            (999, [50, 50, 60, 60]),
        ]),
        (100, 80, []),
    ])
    split = load_deepscores(json_path)
    page, empty = split.pages
    # then the good box stays, the half-off one is clipped, the rest are dropped, all counted
    np.testing.assert_array_equal(page.boxes, [[10, 10, 20, 20], [90, 70, 100, 80]])
    assert split.skipped == Counter(
        box_inverted=1, box_zero_area=1, box_clipped=1, box_outside_page=1, unknown_category_id=1,
        empty_page_kept=1,
    )
    assert len(empty.class_names) == 0  # empty pages are kept for evaluation


def test_skip_summary_is_logged_once(make_dsv2, caplog):
    json_path = make_dsv2([(100, 80, [(NOTEHEAD_BLACK, [30, 10, 25, 20])])])
    with caplog.at_level("INFO", logger="detector.data.deepscores"):
        load_deepscores(json_path)
    summaries = [r.getMessage() for r in caplog.records if "box_inverted=1" in r.getMessage()]
    assert len(summaries) == 1 and "1 pages, 0 annotations" in summaries[0]


def test_missing_and_garbage_images_skip_their_page(make_dsv2, tmp_path):
    # given three pages: one fine, one whose file is gone, one whose file is not an image
    json_path = make_dsv2([(50, 50, [(CLEF_G, [1, 1, 9, 9])])] * 3)
    (tmp_path / "images" / "page1.png").unlink()
    (tmp_path / "images" / "page2.png").write_bytes(b"definitely not a png")
    split = load_deepscores(json_path)
    assert [p.filename for p in split.pages] == ["page0.png"]
    assert split.skipped["image_missing"] == 1 and split.skipped["image_unreadable"] == 1


def test_truncated_image_raises_one_line_image_read_error(dsv2_sample_image, tmp_path):
    # given the real page cut in the middle of its pixel data (its header is intact)
    cut = tmp_path / "cut.png"
    cut.write_bytes(dsv2_sample_image.read_bytes()[:200_000])
    with pytest.raises(ImageReadError) as err:
        load_page_image(cut)
    assert "cut.png" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("mutate, key", [
    (lambda d: d.pop("images"), "images"),
    (lambda d: d.pop("categories"), "categories"),
    (lambda d: d["images"][0].pop("filename"), "filename"),
    (lambda d: d["images"][0].update(width="wide"), "width"),
    (lambda d: next(iter(d["annotations"].values())).update(a_bbox=[1, 2, 3]), "a_bbox"),
    (lambda d: next(iter(d["annotations"].values())).update(o_bbox="x"), "o_bbox"),
    (lambda d: next(iter(d["annotations"].values())).pop("cat_id"), "cat_id"),
    (lambda d: d.update(categories=[1, 2]), "categories"),
])
def test_wrong_schema_names_the_key(make_dsv2, mutate, key):
    json_path = make_dsv2([(50, 50, [(CLEF_G, [1, 1, 9, 9])])])
    data = json.loads(json_path.read_text())
    mutate(data)
    json_path.write_text(json.dumps(data))
    with pytest.raises(DeepScoresFormatError, match=key):
        load_deepscores(json_path)


def test_not_json_is_a_format_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"images": [')
    with pytest.raises(DeepScoresFormatError, match="not valid JSON"):
        load_deepscores(path)


def test_split_json_path_order(tmp_path, dsv2_sample_json, dsv2_sample_dir):
    # a .json file is taken as is; a folder with one json uses it for any split
    assert split_json_path(dsv2_sample_json, "train") == dsv2_sample_json
    assert split_json_path(dsv2_sample_dir, "test") == dsv2_sample_json
    # the DSv2 names win, and val falls back to test
    for name in ("deepscores_train.json", "deepscores_test.json"):
        (tmp_path / name).write_text("{}")
    assert split_json_path(tmp_path, "train").name == "deepscores_train.json"
    assert split_json_path(tmp_path, "val").name == "deepscores_test.json"
    # otherwise one line listing what is there
    with pytest.raises(FileNotFoundError, match="deepscores_test.json, deepscores_train.json"):
        split_json_path(tmp_path, "extra")
