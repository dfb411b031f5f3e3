"""Given a generated dataset, it has exactly the DSv2 layout and is read like the real one."""
from __future__ import annotations

import json

import numpy as np
from PIL import Image

from detector.data.classes import DSV2_ID_BY_NAME
from detector.data.deepscores import load_deepscores, split_json_path
from detector.data.synth import ensure_synthetic_dataset
from detector.data.synth.generate import MANIFEST_NAME


def _docs(root):
    return {split: json.loads((root / f"deepscores_{split}.json").read_text()) for split in ("train", "test")}


def test_layout_matches_the_real_file(synthetic_dataset, dsv2_sample_json):
    # given: the real sample file and the generated splits
    real = json.loads(dsv2_sample_json.read_text())
    for split, doc in _docs(synthetic_dataset).items():
        # then: same top-level keys, the same 208-entry category table, DSv2 types
        assert list(doc) == list(real)
        assert doc["categories"] == real["categories"]
        assert doc["annotation_sets"] == real["annotation_sets"]
        assert doc["images"], f"{split} split is empty"
        for image in doc["images"]:
            assert isinstance(image["id"], int) and set(image) == set(real["images"][0])
            png = Image.open(synthetic_dataset / "images" / image["filename"])
            assert png.mode == "RGBA" and png.size == (image["width"], image["height"])
            assert np.asarray(png.getchannel("A"))[0, 0] == 0  # transparent paper
        ann = next(iter(doc["annotations"].values()))
        assert set(ann) == set(next(iter(real["annotations"].values())))
        assert isinstance(ann["img_id"], str) and len(ann["o_bbox"]) == 8 and len(ann["cat_id"]) == 2


def test_the_reader_loads_every_page(synthetic_dataset):
    # when: the DSv2 reader reads both splits with every class
    for split in ("train", "test"):
        loaded = load_deepscores(split_json_path(synthetic_dataset, split), classes="all")
        # then: nothing is skipped and every page has boxes of known classes
        assert sum(loaded.skipped.values()) == 0, loaded.skipped
        assert loaded.pages and all(len(p.boxes) > 50 for p in loaded.pages)
        assert all(name in DSV2_ID_BY_NAME for p in loaded.pages for name in p.class_names)


def test_split_is_by_piece(synthetic_dataset):
    # given: the piece of every page (recorded in its music JSON)
    pieces = {}
    for split, doc in _docs(synthetic_dataset).items():
        for image in doc["images"]:
            stem = image["filename"].rsplit(".", 1)[0]
            music = json.loads((synthetic_dataset / "music" / f"{stem}.json").read_text())
            pieces.setdefault(split, set()).add(music["piece"])
    # then: no piece has pages in both splits, and the test split is not empty
    assert pieces["test"] and pieces["train"]
    assert not pieces["train"] & pieces["test"]


def test_existing_dataset_is_reused(synthetic_dataset):
    # given: the generated dataset's files and their modification times
    before = {p: p.stat().st_mtime_ns for p in synthetic_dataset.rglob("*") if p.is_file()}
    # when: it is asked for again with the same settings
    ensure_synthetic_dataset(synthetic_dataset, pages=6, seed=0)
    # then: nothing was rewritten
    after = {p: p.stat().st_mtime_ns for p in synthetic_dataset.rglob("*") if p.is_file()}
    assert before == after
    assert json.loads((synthetic_dataset / MANIFEST_NAME).read_text())["seed"] == 0


def test_changed_settings_or_missing_files_mean_regenerate(synthetic_dataset, tmp_path):
    # given: a copy of the generated dataset
    import shutil

    from detector.data.synth.generate import manifest_matches

    copy = tmp_path / "copy"
    shutil.copytree(synthetic_dataset, copy)
    assert manifest_matches(copy, pages=6, seed=0)
    # then: another seed or page count does not match
    assert not manifest_matches(copy, pages=6, seed=1)
    assert not manifest_matches(copy, pages=7, seed=0)
    # when: one page image is lost, then the folder is incomplete
    next((copy / "images").glob("*.png")).unlink()
    assert not manifest_matches(copy, pages=6, seed=0)
