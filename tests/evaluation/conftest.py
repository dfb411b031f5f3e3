"""The real DSv2 sample page and detections made from its own ground truth."""
from __future__ import annotations

import numpy as np
import pytest

from detector.data.classes import STAGE2_CLASSES
from detector.data.coco import to_coco
from detector.data.deepscores import load_deepscores


@pytest.fixture(scope="session")
def sample_pages(dsv2_sample_json):
    """The sample page's Stage-2 ground truth (343 boxes)."""
    return load_deepscores(dsv2_sample_json, classes="stage2").pages


@pytest.fixture(scope="session")
def sample_gt(sample_pages):
    return to_coco(sample_pages, STAGE2_CLASSES)


@pytest.fixture(scope="session")
def perturbed_results(sample_gt):
    """COCO results from the ground truth: 10% dropped, boxes jittered (~5% of their size),
    random scores, the first 5 notehead boxes relabelled as half noteheads, 20 false
    positives where there is no symbol."""
    rng = np.random.default_rng(0)
    results = []
    for ann in sample_gt["annotations"]:
        if rng.random() < 0.1:
            continue
        x, y, w, h = ann["bbox"]
        jitter = rng.normal(0.0, 0.05, 4) * [w, h, w, h]
        results.append({"image_id": ann["image_id"], "category_id": ann["category_id"],
                        "bbox": [x + jitter[0], y + jitter[1], w + jitter[2], h + jitter[3]],
                        "score": float(rng.uniform(0.2, 1.0))})
    relabelled = [r for r in results if r["category_id"] == 25][:5]  # noteheadBlackOnLine
    for r in relabelled:
        r["category_id"] = 29  # noteheadHalfOnLine
    image_id = sample_gt["images"][0]["id"]
    for _ in range(20):
        results.append({"image_id": image_id, "category_id": 25, "score": float(rng.uniform(0.0, 1.0)),
                        "bbox": [float(rng.uniform(0, 2600)), float(rng.uniform(3750, 3800)), 20.0, 18.0]})
    return results


@pytest.fixture(scope="session")
def corner_dataset(tmp_path_factory, dsv2_sample_json, sample_pages):
    """A DSv2-format folder holding the top-left 512 x 500 px of the real sample page.

    Same JSON schema as the shipped file (only the annotations inside the corner kept), so
    full-page inference of a model takes one 512 px tile instead of ~60.
    """
    import json

    from PIL import Image

    from detector.data.deepscores import load_page_image

    width, height = 512, 500
    root = tmp_path_factory.mktemp("corner")
    (root / "images").mkdir()
    Image.fromarray(load_page_image(sample_pages[0].path)[:height, :width]).save(root / "images" / "corner.png")
    data = json.loads(dsv2_sample_json.read_text())
    inside = {k: a for k, a in data["annotations"].items() if a["a_bbox"][2] <= width and a["a_bbox"][3] <= height}
    data["annotations"] = inside
    data["images"] = [{**data["images"][0], "filename": "corner.png", "width": width, "height": height,
                       "ann_ids": list(inside)}]
    (root / "deepscores_test.json").write_text(json.dumps(data))
    return root
