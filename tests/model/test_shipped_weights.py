"""The shipped default model (weights/default.pt) finds noteheads on a page it never saw.

It was trained on the synthetic dataset of seed 1 (configs/default_model.yaml); the test page
comes from the `synthetic_dataset` fixture (seed 0), so the page itself is new to the model.
"""
from __future__ import annotations

import numpy as np
import torch
from torchvision.ops import box_iou

from detector.data.deepscores import load_page_image, load_deepscores, split_json_path
from detector.model.model_io import DEFAULT_WEIGHTS, load_model
from detector.model.tiled import detect_pages

WINDOW = 1152  # px: a window of the page, so the test runs a few tiles, not a whole page


def _densest_window(boxes: np.ndarray, height: int, width: int) -> tuple[int, int]:
    """Top-left corner of the WINDOW x WINDOW region holding the most noteheads."""
    best, corner = -1, (0, 0)
    for y in range(0, max(1, height - WINDOW + 1), 128):
        for x in range(0, max(1, width - WINDOW + 1), 128):
            inside = ((boxes[:, 0] >= x) & (boxes[:, 2] <= x + WINDOW)
                      & (boxes[:, 1] >= y) & (boxes[:, 3] <= y + WINDOW)).sum()
            if inside > best:
                best, corner = int(inside), (x, y)
    return corner


def test_shipped_weights_detect_noteheads_on_an_unseen_synthetic_page(synthetic_dataset):
    # Given the shipped weights and an unseen synthetic page's densest window of noteheads
    model, cfg, class_names = load_model(DEFAULT_WEIGHTS)
    assert DEFAULT_WEIGHTS.stat().st_size < 30e6
    pages = load_deepscores(split_json_path(synthetic_dataset, "test"), classes=class_names).pages
    page = max(pages, key=lambda p: sum(n.startswith("notehead") for n in p.class_names))
    is_notehead = np.array([n.startswith("notehead") for n in page.class_names])
    truth = page.boxes[is_notehead]
    gray = load_page_image(page.path)
    x, y = _densest_window(truth, *gray.shape)
    window = np.ascontiguousarray(gray[y:y + WINDOW, x:x + WINDOW])
    inside = ((truth[:, 0] >= x) & (truth[:, 2] <= x + WINDOW) & (truth[:, 1] >= y) & (truth[:, 3] <= y + WINDOW))
    truth = truth[inside] - np.array([x, y, x, y], dtype=np.float32)
    assert len(truth) >= 10

    # When the model detects symbols on it
    with torch.no_grad():
        found = detect_pages(model, [window], cfg.model)[0]
    confident = found["scores"] >= cfg.eval.score_thresh
    labels = [class_names[int(i)] for i in found["labels"][confident]]
    boxes = found["boxes"][confident][[name.startswith("notehead") for name in labels]]

    # Then at least 85% of the true noteheads are found at IoU >= 0.5
    iou = box_iou(torch.as_tensor(truth), torch.as_tensor(boxes, dtype=torch.float32))
    recall = float((iou.max(dim=1).values >= 0.5).float().mean()) if len(boxes) else 0.0
    assert recall >= 0.85, f"notehead recall {recall:.3f} on {page.filename}"
