"""Write pages in the DeepScoresV2 OBB JSON schema, as the real dataset ships it.

Same keys and types as the real file: ``categories`` keyed by string id holding both
annotation sets (deepscores 1-136 and muscima++ 137-208, ``legerLine`` spelled as there),
``images[].id`` an int, ``annotations`` a dict keyed by string id with ``a_bbox``,
``o_bbox`` (four corners, DSv2's corner order), ``cat_id`` (one id per set, as strings,
None where muscima++ has no counterpart), ``area`` (ink pixels), ``img_id`` (a string) and
``comments``.
"""
from __future__ import annotations

import json
from pathlib import Path

from detector.data.classes import (
    DSV2_CATEGORIES,
    DSV2_COLOR_BY_ID,
    DSV2_ID_BY_NAME,
    MUSCIMA_CATEGORIES,
    MUSCIMA_ID_BY_DSV2_ID,
)

DATASET_INFO = {
    "description": "Synthetic DeepScores-format pages engraved by Verovio (detector.synth)",
    "version": "2.0",
    "year": 2026,
    "contributor": "detector.synth",
    "date_created": "2026-11-25",
    "url": "",
}



def category_table() -> dict[str, dict]:
    """The 208-entry category dict, ordered as in the real file (each deepscores entry
    followed by the muscima++ entry first paired with it)."""
    muscima = {i: (name, color) for i, name, color in MUSCIMA_CATEGORIES}
    table, placed = {}, set()
    for ds_id, name in DSV2_CATEGORIES:
        table[str(ds_id)] = {"name": name, "annotation_set": "deepscores", "color": DSV2_COLOR_BY_ID[ds_id]}
        mu_id = MUSCIMA_ID_BY_DSV2_ID.get(ds_id)
        if mu_id is not None and mu_id not in placed:
            placed.add(mu_id)
            table[str(mu_id)] = {"name": muscima[mu_id][0], "annotation_set": "muscima++", "color": muscima[mu_id][1]}
    for mu_id, (name, color) in muscima.items():
        if mu_id not in placed:
            table[str(mu_id)] = {"name": name, "annotation_set": "muscima++", "color": color}
    return table


def cat_ids(class_name: str) -> list:
    """``cat_id`` of an annotation: [deepscores id, muscima++ id or None], as strings."""
    ds_id = DSV2_ID_BY_NAME[class_name]
    mu_id = MUSCIMA_ID_BY_DSV2_ID.get(ds_id)
    return [str(ds_id), None if mu_id is None else str(mu_id)]


def annotation(box: tuple[float, float, float, float], class_name: str, area: int, img_id: int, comment: str) -> dict:
    """One DSv2 annotation; ``o_bbox`` is the axis-aligned box's corners in DSv2's order
    (x1,y1), (x1,y0), (x0,y0), (x0,y1)."""
    x0, y0, x1, y1 = (round(float(v), 3) for v in box)
    return {
        "a_bbox": [x0, y0, x1, y1],
        "o_bbox": [x1, y1, x1, y0, x0, y0, x0, y1],
        "cat_id": cat_ids(class_name),
        "area": int(area),
        "img_id": str(img_id),
        "comments": comment,
    }


def write_split(path: Path, images: list[dict], annotations: dict[str, dict]) -> None:
    """Write one split file (``deepscores_train.json`` / ``deepscores_test.json``)."""
    doc = {
        "info": DATASET_INFO,
        "annotation_sets": ["deepscores", "muscima++"],
        "categories": category_table(),
        "images": images,
        "annotations": annotations,
    }
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")))
    tmp.replace(path)
