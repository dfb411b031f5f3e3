"""The on-disk page index: the same pages, skips and errors as the plain reader, rebuilt when stale."""
from __future__ import annotations

import copy
import itertools
import json
import os
import pickle
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.data import dsv2_index
from detector.data.classes import DSV2_CATEGORIES
from detector.data.deepscores import DeepScoresFormatError, load_deepscores

NOTEHEAD_BLACK, CLEF_G = 27, 6  # DSv2 deepscores ids
_names = itertools.count()


def outcome(path: Path, **kwargs):
    """What a load gives, comparable across readers: the error, or every fact of every page."""
    try:
        split = load_deepscores(path, **kwargs)
    except (DeepScoresFormatError, FileNotFoundError) as err:
        return ("error", type(err).__name__, str(err))
    pages = [(p.image_id, p.filename, str(p.path), p.width, p.height, p.boxes.dtype.str, p.boxes.tolist(),
              p.obboxes.dtype.str, p.obboxes.tolist(), p.class_names, p.ann_ids, p.comments)
             for p in split.pages]
    return ("split", split.summary(), dict(split.skipped), dict(split.class_counts_all), split.class_names,
            len(split.pages), pages)


def same_both_ways(path: Path, **kwargs):
    """Load through the index and through ``json.load``; they must agree. Returns the outcome."""
    plain = outcome(path, index=False, **kwargs)
    indexed = outcome(path, index=True, **kwargs)
    assert indexed == plain
    return indexed


def write(folder: Path, doc) -> Path:
    """``doc`` as a new JSON file (a new name each time: no index of a previous file applies)."""
    path = folder / f"doc{next(_names)}.json"
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture
def sample_copy(tmp_path, dsv2_sample_json, dsv2_sample_dir) -> Path:
    """The real sample page in a writable folder (its index must not land in the repository)."""
    shutil.copy(dsv2_sample_json, tmp_path / dsv2_sample_json.name)
    (tmp_path / "images").symlink_to(dsv2_sample_dir / "images")
    return tmp_path / dsv2_sample_json.name


# --------------------------------------------------------------------------- the real page


@pytest.mark.parametrize("classes", [None, "stage2", ["noteheadBlackInSpace", "clefG"]])
def test_real_sample_page_round_trip(sample_copy, classes):
    # given the real DSv2 page, when it is read through the index, then every fact is the plain reader's
    result = same_both_ways(sample_copy, classes=classes)
    assert result[0] == "split" and result[5] == 1
    assert (sample_copy.parent / f"{sample_copy.name}.index" / "meta.json").is_file()


def test_later_opens_read_the_index_not_the_json(sample_copy, monkeypatch):
    load_deepscores(sample_copy, index=True)

    def no_build(*args, **kwargs):
        raise AssertionError("rebuilt a fresh index")

    monkeypatch.setattr(dsv2_index, "build_index", no_build)
    split = load_deepscores(sample_copy, index=True)
    assert isinstance(split.pages, dsv2_index.IndexedPages) and len(split.pages[0].class_names) == 547


def test_indexed_pages_behave_as_a_list_and_pickle_as_the_folder(sample_copy):
    split = load_deepscores(sample_copy, index=True, classes="stage2")
    pages = split.pages
    assert pages[-1].ann_ids == pages[0].ann_ids and [p.image_id for p in pages[:5]] == [410]
    with pytest.raises(IndexError):
        pages[1]
    blob = pickle.dumps(pages)
    assert len(blob) < 2000  # the folder's path and the kept page numbers, not the boxes
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again[0].boxes, pages[0].boxes)


def test_small_files_keep_the_plain_reader_unless_asked(sample_copy):
    split = load_deepscores(sample_copy)  # 400 KB < INDEX_MIN_BYTES
    assert isinstance(split.pages, list)
    assert not (sample_copy.parent / f"{sample_copy.name}.index").exists()


# --------------------------------------------------------------------------- stale indexes


def test_stale_index_is_rebuilt_when_the_json_changes(sample_copy):
    before = load_deepscores(sample_copy, index=True)
    assert len(before.pages[0].class_names) == 547
    data = json.loads(sample_copy.read_text())
    first = data["images"][0]["ann_ids"][0]
    data["images"][0]["ann_ids"] = data["images"][0]["ann_ids"][:100]
    data["annotations"][first]["a_bbox"] = [1.0, 2.0, 3.0, 4.0]
    sample_copy.write_text(json.dumps(data))
    after = same_both_ways(sample_copy)
    assert after[6][0][6][0] == [1.0, 2.0, 3.0, 4.0] and len(after[6][0][9]) == 100


def test_same_size_rewrite_within_one_mtime_tick_is_seen(sample_copy):
    # given an index, and the JSON rewritten in place with the same size and the same mtime
    load_deepscores(sample_copy, index=True)
    stat = sample_copy.stat()
    text = sample_copy.read_text()
    changed = text.replace('"width": 2707', '"width": 2706', 1)
    assert len(changed) == len(text) and changed != text
    with open(sample_copy, "r+") as fh:  # same inode
        fh.write(changed)
    os.utime(sample_copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    # then the index is rebuilt (the first 64 KB hash differs) and the page is 2706 wide
    split = load_deepscores(sample_copy, index=True, check_images=False)
    assert split.pages[0].width == 2706


def test_an_older_index_format_is_rebuilt(sample_copy, monkeypatch):
    load_deepscores(sample_copy, index=True)
    monkeypatch.setattr(dsv2_index, "INDEX_VERSION", dsv2_index.INDEX_VERSION + 1)
    built = []
    real_build = dsv2_index.build_index
    monkeypatch.setattr(dsv2_index, "build_index", lambda *a: built.append(1) or real_build(*a))
    same_both_ways(sample_copy)
    assert built == [1]


def test_read_only_dataset_folder_puts_the_index_in_the_cache(sample_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    real_access = os.access
    monkeypatch.setattr(dsv2_index.os, "access",
                        lambda p, mode: False if Path(p) == sample_copy.parent else real_access(p, mode))
    same_both_ways(sample_copy)
    assert not (sample_copy.parent / f"{sample_copy.name}.index").exists()
    assert list((tmp_path / "cache" / "omr-detector" / "dsv2-index").glob("*.index/meta.json"))


# --------------------------------------------------------------------------- malformed input


def test_bad_boxes_and_missing_images_are_the_same_counted_skips(make_dsv2, tmp_path):
    # given bad boxes of every kind, a page whose image is gone, a duplicate page id, an empty page
    json_path = make_dsv2([
        (100, 80, [(NOTEHEAD_BLACK, [10, 10, 20, 20]), (NOTEHEAD_BLACK, [30, 10, 25, 20]),
                   (NOTEHEAD_BLACK, [40, 10, 40, 20]), (NOTEHEAD_BLACK, [90, 70, 110, 90]),
                   (NOTEHEAD_BLACK, [200, 10, 210, 20]), (999, [50, 50, 60, 60]), (CLEF_G, [-5, 1, 9, 9])]),
        (100, 80, []),
        (50, 50, [(CLEF_G, [1, 1, 9, 9])]),
        (50, 50, [(CLEF_G, [1, 1, 9, 9])]),
    ])
    data = json.loads(json_path.read_text())
    data["images"][3]["id"] = data["images"][2]["id"]  # duplicate id
    data["annotations"]["1001"]["o_bbox"] = None  # replaced from the box
    data["annotations"]["1002"]["cat_id"] = ["137", "1"]  # a muscima++ id first: the deepscores one wins
    data["images"][0]["ann_ids"].append("no-such-id")
    json_path.write_text(json.dumps(data))
    (tmp_path / "images" / "page1.png").unlink()
    result = same_both_ways(json_path)
    assert result[2]["duplicate_image_id"] == 1 and result[2]["image_missing"] == 1
    assert result[2]["annotation_id_not_found"] == 1 and result[2]["box_clipped"] == 2
    for classes in ("stage2", ["clefG"]):
        same_both_ways(json_path, classes=classes, check_images=False)


@pytest.mark.parametrize("mutate", [
    lambda d: d.pop("images"),
    lambda d: d.pop("categories"),
    lambda d: d.pop("annotations"),
    lambda d: d.update(categories=[1, 2]),
    lambda d: d.update(images={"a": 1}),
    lambda d: d["images"][0].pop("filename"),
    lambda d: d["images"][0].update(width="wide"),
    lambda d: d["images"][0].update(height=0),
    lambda d: d["images"][1].update(ann_ids="x"),
    lambda d: d["annotations"]["1000"].update(a_bbox=[1, 2, 3]),
    lambda d: d["annotations"]["1000"].update(o_bbox="x"),
    lambda d: d["annotations"]["1000"].pop("cat_id"),
    lambda d: d["annotations"]["1000"].update(cat_id=[{"a": 1}]),
    lambda d: d["annotations"].update({"1000": [1, 2]}),
    lambda d: d["annotations"]["1000"].update(a_bbox=[30, 10, 25, 20], o_bbox="x"),  # skipped before o_bbox
    lambda d: d["annotations"]["1000"].update(a_bbox=[1, 1, 10**400, 9]),  # a huge JSON integer: inf
    lambda d: d["annotations"]["1000"].update(a_bbox=[1, 1, float("nan"), 9]),  # NaN: not standard JSON
    lambda d: d["annotations"]["1000"].update(comments=None),
    lambda d: d["annotations"]["1000"].update(comments=7),
])
def test_malformed_files_give_the_same_error_or_skips(make_dsv2, mutate):
    json_path = make_dsv2([(50, 50, [(CLEF_G, [1, 1, 9, 9])]), (50, 50, [(CLEF_G, [2, 2, 9, 9])])])
    data = json.loads(json_path.read_text())
    mutate(data)
    json_path.write_text(json.dumps(data))
    same_both_ways(json_path)
    same_both_ways(json_path, check_images=False)


def test_an_error_on_a_page_whose_image_is_missing_is_a_skip_as_before(make_dsv2, tmp_path):
    # the plain reader checks the image before the page's annotations: a bad box there is never read
    json_path = make_dsv2([(50, 50, [(CLEF_G, [1, 1, 9, 9])]), (50, 50, [(CLEF_G, [2, 2, 9, 9])])])
    data = json.loads(json_path.read_text())
    data["annotations"]["1001"]["a_bbox"] = "bad"
    json_path.write_text(json.dumps(data))
    (tmp_path / "images" / "page1.png").unlink()
    assert same_both_ways(json_path)[0] == "split"
    assert same_both_ways(json_path, check_images=False)[0] == "error"


def test_other_layouts_give_the_same_pages(make_dsv2, tmp_path):
    # given pages without ann_ids (grouped by img_id), a COCO-like list of annotations,
    # non-numeric and unordered annotation ids
    json_path = make_dsv2([(50, 50, [(CLEF_G, [1, 1, 9, 9]), (NOTEHEAD_BLACK, [3, 3, 6, 6])]),
                           (60, 50, [(CLEF_G, [2, 2, 9, 9])])])
    base = json.loads(json_path.read_text())
    no_ids = copy.deepcopy(base)
    del no_ids["images"][0]["ann_ids"]
    null_ids = copy.deepcopy(base)
    null_ids["images"][1]["ann_ids"] = None
    both = copy.deepcopy(no_ids)
    both["images"][1]["ann_ids"] = None
    listed = copy.deepcopy(base)
    listed["annotations"] = [{"id": int(k), **v} for k, v in base["annotations"].items()]
    named = copy.deepcopy(base)
    renames = {"1000": "b-note", "1001": "a-clef", "1002": "0042"}
    named["annotations"] = {renames[k]: v for k, v in reversed(base["annotations"].items())}
    for image in named["images"]:
        image["ann_ids"] = [renames[a] for a in image["ann_ids"]] + [42]
    for doc in (no_ids, null_ids, both, listed, named):
        path = write(tmp_path, doc)
        same_both_ways(path)
        same_both_ways(path, classes=["clefG"], check_images=False)


def test_repeated_annotation_ids_fall_back_to_the_plain_reader(make_dsv2):
    json_path = make_dsv2([(50, 50, [(CLEF_G, [1, 1, 9, 9]), (CLEF_G, [2, 2, 8, 8])])])
    text = json_path.read_text().replace('"1001"', '"1000"')  # json.load keeps the last one
    json_path.write_text(text)
    result = same_both_ways(json_path)
    assert result[6][0][10] == ["1000", "1000"]
    assert not (json_path.parent / f"{json_path.name}.index").exists()


def test_large_invalid_json_is_one_line_without_a_full_load(tmp_path, monkeypatch):
    monkeypatch.setattr(dsv2_index, "PLAIN_FALLBACK_MAX_BYTES", 0)
    path = tmp_path / "broken.json"
    path.write_text('{"categories": {}, "images": [')
    with pytest.raises(DeepScoresFormatError, match=r"broken\.json: not valid JSON \(") as err:
        load_deepscores(path, index=True)
    assert "\n" not in str(err.value)


# --------------------------------------------------------------------------- fuzz


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


def dsv2_categories() -> dict:
    """The DSv2 category table as shipped: both annotation sets, string ids."""
    cats = {str(i): {"name": n, "annotation_set": "deepscores"} for i, n in DSV2_CATEGORIES}
    cats.update({str(i + 136): {"name": n, "annotation_set": "muscima++"} for i, n in DSV2_CATEGORIES})
    return cats


def _small_doc() -> dict:
    images = [{"id": 1, "filename": "p.png", "width": 50, "height": 40, "ann_ids": ["10", "11", "12"]},
              {"id": 2, "filename": "q.png", "width": 30, "height": 30, "ann_ids": ["13"]}]
    annotations = {}
    for ann_id, (cat, box) in zip(("10", "11", "12", "13"), [
            (CLEF_G, [1.5, 1.0, 9.0, 9.25]), (NOTEHEAD_BLACK, [3.0, 3.0, 60.0, 6.0]),
            (999, [1.0, 1.0, 2.0, 2.0]), (CLEF_G, [2.0, 2.0, 8.0, 8.0])]):
        annotations[ann_id] = {"a_bbox": box, "o_bbox": [box[2], box[3], box[2], box[1], box[0], box[1],
                                                         box[0], box[3]],
                               "cat_id": [str(cat), str(cat + 136)], "img_id": "1", "comments": "c"}
    return {"categories": dsv2_categories(), "images": images, "annotations": annotations}


def _containers(node, path=()):
    if isinstance(node, (dict, list)):
        yield path, node
        for key, child in (node.items() if isinstance(node, dict) else enumerate(node)):
            yield from _containers(child, path + (key,))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=json_values, delete=st.booleans())
def test_random_mutations_read_the_same_both_ways(tmp_path, data, value, delete):
    # given a small DSv2 document with one node replaced by a random value, or deleted
    doc = _small_doc()
    spots = [(p, n) for p, n in _containers(doc) if "categories" not in p[:1] or len(p) < 2]
    _, node = spots[data.draw(st.integers(0, len(spots) - 1), label="node")]
    if node:
        key = (data.draw(st.sampled_from(sorted(node, key=str)), label="key") if isinstance(node, dict)
               else data.draw(st.integers(0, len(node) - 1), label="index"))
        if delete:
            del node[key]
        else:
            node[key] = value
    # then the index and the plain reader agree, error for error, skip for skip
    same_both_ways(write(tmp_path, doc), check_images=False)


def test_counts_and_summary_come_from_the_index(sample_copy):
    split = load_deepscores(sample_copy, index=True, classes="stage2")
    plain = load_deepscores(sample_copy, index=False, classes="stage2")
    assert split.pages.num_annotations == sum(len(p.class_names) for p in plain.pages)
    assert split.class_counts_all == Counter(plain.class_counts_all)


def test_lookup_across_blocks_of_increasing_ids(tmp_path):
    # given 12,000 annotations with increasing ids (the fenced lookup, 3 blocks), pages that list
    # them shuffled and across blocks, and ids that do not exist
    rng = np.random.default_rng(0)
    doc = _small_doc()
    box = [1.0, 1.0, 5.0, 5.0]
    doc["annotations"] = {str(10 * i): {"a_bbox": box, "o_bbox": None, "cat_id": [str(CLEF_G)], "img_id": "1"}
                          for i in range(12_000)}
    ids = list(doc["annotations"])
    order = rng.permutation(len(ids))
    doc["images"][0]["ann_ids"] = [ids[i] for i in order[:7000]] + ["5", "999999"]
    doc["images"][1]["ann_ids"] = [ids[i] for i in order[7000:]] + [ids[0]]
    path = write(tmp_path, doc)
    result = same_both_ways(path, check_images=False)
    assert result[2]["annotation_id_not_found"] == 2 and sum(len(p[9]) for p in result[6]) == 12_001


def _pages_of(path: str) -> int:
    return sum(len(p.class_names) for p in load_deepscores(path, index=True, check_images=False).pages)


def test_two_processes_building_at_once_agree(sample_copy):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        counts = list(pool.map(_pages_of, [str(sample_copy)] * 4))
    assert counts == [547] * 4
    assert sorted(p.name for p in sample_copy.parent.iterdir() if "build" in p.name or "old" in p.name) == []
