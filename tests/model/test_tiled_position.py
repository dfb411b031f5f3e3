"""The same page is read the same wherever it sits under the tile grid.

Issue 17 #9: the real DSv2 page pasted at (1000, 1500) on a large white canvas gave 51 of 189
notes different, because the tile grid was fixed to the image corner and a GroupNorm network
scores a symbol by the whole tile it sits in. The grid is now anchored to the ink.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou, clip_boxes_to_image

from detector.data.deepscores import load_page_image
from detector.model.model_io import DEFAULT_WEIGHTS, load_model
from detector.model.tiled import detect_pages

#: The top of the real page, cut in the white band below its first systems (rows 1685-2112 are
#: blank: a page on white paper, as the pasted copies are).
ROWS = 1900
#: Where the reference copy sits, and offsets from it that are not multiples of any stride of
#: the network (then one that is, on x).
REFERENCE_AT = (150, 150)
OFFSETS = [(37, 211), (320, 64)]
#: Tolerance between pasted copies: equal up to float rounding of the added offset.
BOX_TOLERANCE_PX = 0.01
SCORE_TOLERANCE = 1e-4
#: Against the bare page, whose image border clips boxes that reach past it (a pasted copy has
#: paper there, so a clipped box can win or lose an NMS it did not on paper): every confident
#: detection of the bare page has one of the same class in the copy at IoU >= this.
BARE_PAGE_IOU = 0.9


@pytest.fixture(scope="module")
def shipped():
    return load_model(DEFAULT_WEIGHTS)


@pytest.fixture(scope="module")
def page_top(dsv2_sample_image) -> np.ndarray:
    return np.ascontiguousarray(load_page_image(dsv2_sample_image)[:ROWS])


def paste(page: np.ndarray, dx: int, dy: int, margin: int = 900) -> np.ndarray:
    """``page`` on a white canvas ``margin`` px larger on each axis, at (dx, dy)."""
    canvas = np.full((page.shape[0] + margin, page.shape[1] + margin), 255, np.uint8)
    canvas[dy:dy + page.shape[0], dx:dx + page.shape[1]] = page
    return canvas


def test_a_page_pasted_anywhere_on_white_gives_the_same_detections_shifted(shipped, page_top):
    # given the shipped model and the top of the real DSv2 page pasted on white paper at several
    # places, each putting every symbol elsewhere relative to a grid fixed to the image corner
    model, cfg, _ = shipped
    x0, y0 = REFERENCE_AT
    places = [(x0, y0)] + [(x0 + dx, y0 + dy) for dx, dy in OFFSETS]
    # when every copy is detected
    results = detect_pages(model, [paste(page_top, x, y) for x, y in places], cfg.model)
    reference = results[0]
    assert len(reference["scores"]) > 300
    for (dx, dy), found in zip(OFFSETS, results[1:]):
        # then each finds the same symbols, with the same classes and scores, shifted by the offset
        assert len(found["scores"]) == len(reference["scores"])
        np.testing.assert_array_equal(found["labels"], reference["labels"])
        np.testing.assert_allclose(found["scores"], reference["scores"], atol=SCORE_TOLERANCE)
        shifted_back = found["boxes"] - np.array([dx, dy, dx, dy], np.float32)
        np.testing.assert_allclose(shifted_back, reference["boxes"], atol=BOX_TOLERANCE_PX)


def test_the_bare_page_and_a_pasted_copy_agree_on_every_confident_symbol(shipped, page_top):
    model, cfg, _ = shipped
    x0, y0 = REFERENCE_AT
    bare, pasted = detect_pages(model, [page_top, paste(page_top, x0, y0)], cfg.model)
    confident = [found["scores"] >= cfg.eval.score_thresh for found in (bare, pasted)]
    assert confident[0].sum() == confident[1].sum() > 100
    # the pasted copy's boxes, moved back and clipped to the bare page as its detections are
    boxes = torch.from_numpy(pasted["boxes"][confident[1]] - np.array([x0, y0, x0, y0], np.float32))
    boxes = clip_boxes_to_image(boxes, page_top.shape)
    iou = box_iou(torch.from_numpy(bare["boxes"][confident[0]]), boxes)  # [N, N]
    labels = bare["labels"][confident[0]], pasted["labels"][confident[1]]
    same_class = torch.from_numpy(labels[0][:, None] == labels[1][None, :])
    best = (iou * same_class).max(dim=1).values
    assert (best >= BARE_PAGE_IOU).all(), f"{int((best < BARE_PAGE_IOU).sum())} symbols differ"


def test_the_shipped_overlap_holds_a_g_clef_at_the_largest_staff_size(shipped, dsv2_sample_json):
    # a G clef is ~7.5 staff spaces tall; the synthetic training pages reach 28 px spaces, x1.2
    # scale augmentation: 252 px. A symbol whose centre lies in a tile's core is whole in that
    # tile when it is no larger than the overlap.
    _, cfg, _ = shipped
    assert cfg.model.tile_overlap >= 7.5 * 28 * 1.2
    assert cfg.model.tile_size >= 3 * cfg.model.tile_overlap  # most of each tile is its own core


def test_a_blank_page_runs_no_tile_and_finds_nothing(shipped):
    model, cfg, _ = shipped
    found = detect_pages(model, [np.full((3000, 2000), 255, np.uint8)], cfg.model)[0]
    assert found["boxes"].shape == (0, 4) and found["scores"].shape == (0,) and found["labels"].shape == (0,)
