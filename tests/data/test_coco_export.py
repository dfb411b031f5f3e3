"""COCO export of the ground truth, read back by pycocotools."""
from __future__ import annotations

import json

import numpy as np
from pycocotools.coco import COCO

from detector.data.classes import DSV2_ID_BY_NAME
from detector.data.coco import coco_category_ids, to_coco


def test_sample_round_trips_through_pycocotools(sample_split, stage2_names, tmp_path):
    # given the real page exported with the stage2 classes and written to disk
    page = sample_split.pages[0]
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(to_coco(sample_split.pages, stage2_names)))
    # when pycocotools reads it back
    coco = COCO(str(path))
    # then the image, the 343 boxes and the DSv2 category ids survive unchanged
    assert coco.getImgIds() == [410] and coco.imgs[410]["width"] == 2707
    assert len(coco.getAnnIds(imgIds=[410])) == 343
    assert sorted(coco.getCatIds()) == sorted(DSV2_ID_BY_NAME[n] for n in stage2_names)
    heads = coco.loadAnns(coco.getAnnIds(catIds=[DSV2_ID_BY_NAME["noteheadBlackInSpace"]]))
    assert len(heads) == 67
    by_id = dict(zip(page.ann_ids, page.boxes.tolist()))
    for ann in heads:
        x, y, w, h = ann["bbox"]
        np.testing.assert_allclose([x, y, x + w, y + h], by_id[ann["dsv2_ann_id"]], rtol=0, atol=1e-3)
        assert ann["area"] == w * h and ann["iscrowd"] == 0


def test_excluded_classes_are_left_out(sample_split):
    gt = to_coco(sample_split.pages, ["stem", "legerLine"])
    assert [c["id"] for c in gt["categories"]] == [42, 2]
    assert len(gt["annotations"]) == 149 + 25
    assert coco_category_ids(["stem", "legerLine"]) == [42, 2]
