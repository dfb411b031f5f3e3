"""Ground truth in COCO form, so pycocotools can score detections against it.

Category ids are the DSv2 ``deepscores`` ids (``DSV2_ID_BY_NAME``) and image ids the DSv2
image ids, so a results file written against this ground truth is interchangeable with other
DSv2 tools. ``area`` is the box area (DSv2's own ``area`` counts ink pixels, which would put
symbols into the wrong COCO small/medium/large bucket).
"""
from __future__ import annotations

from typing import Sequence

from detector.data.classes import DSV2_ID_BY_NAME, resolve_classes
from detector.data.deepscores import PageAnnotations


def coco_category_ids(class_names: Sequence[str]) -> list[int]:
    """COCO category id of each label index: ``ids[i]`` belongs to ``class_names[i]``."""
    return [DSV2_ID_BY_NAME[name] for name in resolve_classes(list(class_names))]


def to_coco(pages: Sequence[PageAnnotations], class_names: Sequence[str]) -> dict:
    """COCO ground-truth dict of ``pages``, holding only the annotations of ``class_names``.

    Boxes are ``[x, y, w, h]``; annotation ids run from 1 (COCO wants unique ints) and keep
    the DSv2 id in ``dsv2_ann_id``.
    """
    names = resolve_classes(list(class_names))
    wanted = set(names)
    categories = [{"id": DSV2_ID_BY_NAME[n], "name": n, "supercategory": "symbol"} for n in names]
    images, annotations = [], []
    for page in pages:
        images.append(
            {"id": page.image_id, "file_name": page.filename, "width": page.width, "height": page.height}
        )
        for box, name, ann_id in zip(page.boxes.tolist(), page.class_names, page.ann_ids):
            if name not in wanted:
                continue
            x0, y0, x1, y1 = box
            annotations.append({
                "id": len(annotations) + 1,
                "image_id": page.image_id,
                "category_id": DSV2_ID_BY_NAME[name],
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "area": (x1 - x0) * (y1 - y0),
                "iscrowd": 0,
                "dsv2_ann_id": ann_id,
            })
    return {
        "info": {"description": "DeepScoresV2-format ground truth"},
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
