"""Fixtures of the data tests: the real sample loaded once, and hand-made DSv2 files."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image

from detector.data.classes import DSV2_CATEGORIES, resolve_classes
from detector.data.deepscores import DeepScoresSplit, load_deepscores, load_page_image


@pytest.fixture(scope="session")
def sample_split(dsv2_sample_json) -> DeepScoresSplit:
    """The real sample page with every class."""
    return load_deepscores(dsv2_sample_json)


@pytest.fixture(scope="session")
def sample_gray(dsv2_sample_image) -> np.ndarray:
    """The real sample page as [H, W] uint8 gray."""
    return load_page_image(dsv2_sample_image)


@pytest.fixture(scope="session")
def stage2_names() -> tuple[str, ...]:
    return resolve_classes("stage2")


def dsv2_categories() -> dict:
    """The DSv2 category table as shipped: both annotation sets, string ids."""
    cats = {str(i): {"name": n, "annotation_set": "deepscores", "color": i} for i, n in DSV2_CATEGORIES}
    for i, n in DSV2_CATEGORIES:
        cats[str(i + 136)] = {"name": n, "annotation_set": "muscima++", "color": i}
    return cats


def draw_page(path: Path, width: int, height: int, boxes: list) -> None:
    """An RGBA page, transparent paper, an opaque black rectangle on each box."""
    rgba = np.zeros((height, width, 4), dtype=np.uint8)
    for x0, y0, x1, y1 in boxes:
        xs = slice(max(0, int(np.ceil(x0))), max(0, int(np.floor(x1))))
        ys = slice(max(0, int(np.ceil(y0))), max(0, int(np.floor(y1))))
        rgba[ys, xs, 3] = 255
    Image.fromarray(rgba, "RGBA").save(path)


@pytest.fixture
def make_dsv2(tmp_path) -> Callable[..., Path]:
    """Write a DSv2-format dataset: ``make_dsv2([(width, height, [(cat_id, box), ...]), ...])``.

    Returns the JSON path; images go to ``images/page<i>.png`` with ink on every box.
    """

    def make(pages: list, name: str = "deepscores_train.json") -> Path:
        (tmp_path / "images").mkdir(exist_ok=True)
        images, annotations = [], {}
        for page_no, (width, height, anns) in enumerate(pages):
            filename = f"page{page_no}.png"
            ids = []
            for cat_id, box in anns:
                ann_id = str(1000 + len(annotations))
                annotations[ann_id] = {
                    "a_bbox": list(box),
                    "o_bbox": [box[2], box[3], box[2], box[1], box[0], box[1], box[0], box[3]],
                    "cat_id": [str(cat_id), str(cat_id + 136)],
                    "area": 1,
                    "img_id": str(page_no + 1),
                    "comments": "",
                }
                ids.append(ann_id)
            images.append(
                {"id": page_no + 1, "filename": filename, "width": width, "height": height, "ann_ids": ids}
            )
            draw_page(tmp_path / "images" / filename, width, height, [b for _, b in anns])
        data = {"info": {}, "annotation_sets": ["deepscores", "muscima++"], "categories": dsv2_categories(),
                "images": images, "annotations": annotations}
        path = tmp_path / name
        path.write_text(json.dumps(data))
        return path

    return make
