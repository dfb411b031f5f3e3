"""Given generated pages, every sampled box sits tight on its symbol's ink (1 px tolerance)."""
from __future__ import annotations

import json
from collections import defaultdict

import numpy as np
from PIL import Image

#: Alpha above which a pixel counts as ink (anti-aliased edges are fainter).
INK_ALPHA = 64
SAMPLES_PER_CLASS = 40


def _box_fits_ink(ink: np.ndarray, box: list[float]) -> bool:
    """The box holds ink, and on each of its four sides the ink reaches within 1 px of it."""
    x0, y0, x1, y1 = box
    ix0, iy0 = int(np.floor(x0)), int(np.floor(y0))
    inside = ink[iy0:int(np.ceil(y1)), ix0:int(np.ceil(x1))]
    if not inside.any():
        return False
    ys, xs = np.nonzero(inside)
    ink_x0, ink_x1 = ix0 + xs.min(), ix0 + xs.max() + 1
    ink_y0, ink_y1 = iy0 + ys.min(), iy0 + ys.max() + 1
    return ink_x0 <= x0 + 1 and ink_x1 >= x1 - 1 and ink_y0 <= y0 + 1 and ink_y1 >= y1 - 1


def test_sampled_boxes_are_tight_on_the_ink(synthetic_dataset):
    # given: the generated pages and a seeded sample of boxes of every class
    rng = np.random.default_rng(0)
    results: dict[str, list[bool]] = defaultdict(list)
    for split in ("train", "test"):
        doc = json.loads((synthetic_dataset / f"deepscores_{split}.json").read_text())
        names = {k: v["name"] for k, v in doc["categories"].items()}
        for image in doc["images"]:
            alpha = np.asarray(Image.open(synthetic_dataset / "images" / image["filename"]).getchannel("A"))
            ink = alpha >= INK_ALPHA
            by_class = defaultdict(list)
            for ann_id in image["ann_ids"]:
                by_class[names[doc["annotations"][ann_id]["cat_id"][0]]].append(doc["annotations"][ann_id]["a_bbox"])
            for name, boxes in by_class.items():
                for i in rng.permutation(len(boxes))[:SAMPLES_PER_CLASS]:
                    # when: the box is compared with the page's ink
                    results[name].append(_box_fits_ink(ink, boxes[i]))
    # then: every class has all its sampled boxes tight
    loose = {name: f"{sum(ok)}/{len(ok)}" for name, ok in results.items() if not all(ok)}
    assert len(results) >= 20
    assert not loose, f"boxes not tight on the ink: {loose}"
