"""Where to cut a training crop, and which boxes it keeps.

Crops are cut around an *anchor* annotation drawn with probability ``~ freq(class)^-alpha``,
so crops containing rare classes (a clefCAlto, a rest64th) come up far more often than their
share of the page would give, while common classes still appear in every crop as neighbours.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

#: A box is kept when at least this fraction of its area lies inside the crop.
MIN_VISIBLE_FRACTION = 0.6


def boost_exponent(rare_class_boost: float) -> float:
    """``alpha`` of the anchor weight ``freq^-alpha`` for a ``data.rare_class_boost`` value.

    ``alpha = 1 - 1/boost``: boost 1 (or less) gives alpha 0, anchors uniform over annotations;
    boost 2 gives alpha 0.5 (inverse square-root frequency); a large boost tends to 1, where
    every class is drawn equally often as an anchor.
    """
    return 0.0 if rare_class_boost <= 1.0 else 1.0 - 1.0 / rare_class_boost


class AnchorSampler:
    """Draws (page, anchor annotation) pairs, the annotation with weight ``freq(class)^-alpha``.

    The page is drawn first (weight = the sum of its annotations' weights), then the anchor
    within it: the joint distribution is the same as drawing the annotation directly, but the
    page draw can be shared by consecutive samples (``CropDataset(crops_per_page=k)``).
    """

    def __init__(self, labels_per_page: Sequence[np.ndarray], num_classes: int, rare_class_boost: float):
        counts = np.bincount(np.concatenate([np.zeros(0, np.int64), *labels_per_page]), minlength=num_classes)
        alpha = boost_exponent(rare_class_boost)
        class_weight = np.where(counts > 0, np.maximum(counts, 1).astype(np.float64) ** -alpha, 0.0)
        self.ann_weights = [class_weight[labels] for labels in labels_per_page]  # [N_page] each
        page_weight = np.array([w.sum() for w in self.ann_weights], dtype=np.float64)
        self.has_anchors = page_weight.sum() > 0
        # no annotation anywhere: pages uniform and crops at random places
        if not self.has_anchors:
            page_weight = np.ones(len(page_weight))
        self.page_prob = page_weight / page_weight.sum()

    def draw_page(self, rng: np.random.Generator) -> int:
        """Index of a page, weighted by the anchor weight it holds."""
        return int(rng.choice(len(self.page_prob), p=self.page_prob))

    def draw_anchor(self, page_index: int, rng: np.random.Generator) -> Optional[int]:
        """Index of an anchor annotation on the page, or None when the page has none."""
        weights = self.ann_weights[page_index]
        if len(weights) == 0 or weights.sum() <= 0:
            return None
        return int(rng.choice(len(weights), p=weights / weights.sum()))


def _axis_origin(
    box_lo: float, box_hi: float, window: float, page_len: int, rng: np.random.Generator
) -> float:
    """Window start along one axis so the window holds [box_lo, box_hi] and stays on the page.

    A box longer than the window gets a window inside the box; a page shorter than the window
    gets a window around the page (padded with white later).
    """
    lo, hi = sorted((box_hi - window, box_lo))
    page_lo, page_hi = sorted((0.0, page_len - window))
    lo, hi = max(lo, page_lo), min(hi, page_hi)
    if lo > hi:  # only for boxes partly off the page: fall back to the page range
        lo, hi = page_lo, page_hi
    return float(np.floor(rng.uniform(lo, hi))) if hi > lo else float(np.floor(lo))


def choose_window(
    anchor_box: Optional[np.ndarray], window: float, page_w: int, page_h: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Top-left ``(x, y)`` in page pixels of a ``window``-sized square holding ``anchor_box``.

    Without an anchor the window is placed uniformly on the page.
    """
    if anchor_box is None:
        x, y = rng.uniform(0, page_w), rng.uniform(0, page_h)
        anchor_box = np.array([x, y, x, y])
    x0, y0, x1, y1 = (float(v) for v in anchor_box)
    return _axis_origin(x0, x1, window, page_w, rng), _axis_origin(y0, y1, window, page_h, rng)


def clip_to_crop(
    boxes: np.ndarray, size: int, min_visible: float = MIN_VISIBLE_FRACTION
) -> tuple[np.ndarray, np.ndarray]:
    """Clip crop-pixel boxes ``[N, 4]`` to ``[0, size]``; keep those mostly inside.

    Returns:
        ``(boxes_crop [M, 4] float32, keep [N] bool)``: the clipped boxes where at least
        ``min_visible`` of the area is inside the crop (and something is left).
    """
    if len(boxes) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, bool)
    clipped = np.clip(boxes, 0.0, float(size))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    w, h = clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]
    keep = (w > 0) & (h > 0) & (w * h >= min_visible * area)
    return clipped[keep].astype(np.float32), keep
