"""Full-page tiled inference agrees with running the whole page at once."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from detector.model import detect_pages
from detector.model.tiled import tile_starts


def test_tiles_cover_the_ink_with_half_an_overlap_of_margin_and_move_with_it():
    # ink from 0 to 268: a 332 px span with the 32 px margins; three tiles of at most 160 px,
    # shrunk to 154 px so that they end (rounded up) 32 px past the ink
    assert tile_starts(0, 268, 160, 64) == ([-32, 58, 148], 154)
    assert tile_starts(0, 96, 160, 64) == ([-32], 160)
    assert tile_starts(0, 50, 160, 64) == ([-32], 114)  # less ink than a tile: one smaller tile
    assert tile_starts(0, 97, 160, 64) == ([-32, 17], 113)
    # the same ink 1234 px further on: the same grid, 1234 px further on
    starts, size = tile_starts(0, 268, 160, 64)
    assert tile_starts(1234, 1502, 160, 64) == ([1234 + s for s in starts], size)


def best_same_class_match(detections: dict, boxes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per reference box (ground truth, or another run's detections), the best same-class
    confident (> 0.3) detection box; NaN if none at IoU >= 0.5."""
    confident = detections["scores"] > 0.3
    found_boxes = torch.from_numpy(detections["boxes"][confident])
    found_labels = torch.from_numpy(detections["labels"][confident])
    iou = box_iou(boxes, found_boxes) * (labels[:, None] == found_labels[None, :])  # [N, K]
    best = torch.full((len(boxes), 4), float("nan"))
    if found_boxes.numel():
        value, index = iou.max(dim=1)
        best[value >= 0.5] = found_boxes[index[value >= 0.5]]
    return best


def test_tiled_detections_equal_untiled_ones_within_nms_tolerance(overfit_fcos):
    # given the 320 x 320 mosaic page the tiny model trained on (random 160 px windows of it)
    page = (overfit_fcos.mosaic[0].numpy() * 255).round().astype(np.uint8)
    gt_boxes, gt_labels = overfit_fcos.mosaic_target["boxes"], overfit_fcos.mosaic_target["labels"]
    untiled_cfg = dataclasses.replace(overfit_fcos.model_cfg, tile_size=512, tile_overlap=64)
    # 160 px tiles, 5 x 5 of them: the overlap holds the largest symbol (a 60 px flag) whole.
    # The tiny model only ever saw windows full of staff lines, never paper past a page edge,
    # so the grid's white margin around the ink costs it a dot at a smaller overlap.
    tiled_cfg = dataclasses.replace(overfit_fcos.model_cfg, tile_size=160, tile_overlap=96)
    # when the page is detected in one piece and by tiles that cut through its symbols
    whole_dets = detect_pages(overfit_fcos.model, [page], untiled_cfg)[0]
    tiled_dets = detect_pages(overfit_fcos.model, [page], tiled_cfg)[0]
    whole = best_same_class_match(whole_dets, gt_boxes, gt_labels)
    found_whole = ~whole[:, 0].isnan()
    assert found_whole.float().mean() >= 0.75
    # then every symbol the whole page finds, the tiles find too, same class, with a box that NMS
    # would treat as the same (IoU >= nms_thresh with the whole page's box; compared with each
    # other, not with the ground truth: on a 10 px dot the tiny model's boxes are 2-3 px loose
    # whichever way it runs, and on an AVX2 CPU one tiled dot box came out at IoU 0.42 with the
    # ground truth and 0.65 with the whole page's box)
    assert untiled_cfg.nms_thresh <= 0.5
    tiled = best_same_class_match(tiled_dets, whole[found_whole], gt_labels[found_whole])
    assert not tiled[:, 0].isnan().any()
    # and the tiles find no ground-truth symbol that the whole page misses
    found_tiled = ~best_same_class_match(tiled_dets, gt_boxes, gt_labels)[:, 0].isnan()
    assert not (found_tiled & ~found_whole).any()


def test_detect_pages_returns_numpy_per_page_and_restores_training_mode(overfit_fcos):
    pages = [np.full((200, 300), 255, dtype=np.uint8), np.full((90, 70), 255, dtype=np.uint8)]
    overfit_fcos.model.train()
    try:
        results = detect_pages(overfit_fcos.model, pages, overfit_fcos.model_cfg, "cpu")
        assert overfit_fcos.model.training
    finally:
        overfit_fcos.model.eval()
    assert len(results) == 2
    for result in results:
        assert result["boxes"].dtype == np.float32 and result["boxes"].shape[1] == 4
        assert result["labels"].dtype == np.int64
        assert len(result["scores"]) == len(result["labels"]) == len(result["boxes"])
        assert not (result["scores"] > 0.5).any()  # blank paper: nothing confident


def test_a_colour_page_is_a_one_line_error(overfit_fcos):
    with pytest.raises(ValueError, match=r"gray np.ndarray \[H, W\]"):
        detect_pages(overfit_fcos.model, [np.zeros((50, 50, 3), np.uint8)], overfit_fcos.model_cfg)
