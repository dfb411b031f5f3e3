"""Precision / recall / F1 of rebuilt boxes against ground-truth boxes (one-to-one IoU matching).

COCO AP is for ranked detections; the rebuilt stems and ledger lines are decisions, so the
bench and the tests count matches at one IoU threshold, greedily by IoU (highest first).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MatchScore:
    """Counts and rates of one class on one or more pages."""

    true_positives: int
    predictions: int
    ground_truth: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predictions if self.predictions else float(self.ground_truth == 0)

    @property
    def recall(self) -> float:
        return self.true_positives / self.ground_truth if self.ground_truth else float(self.predictions == 0)

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: "MatchScore") -> "MatchScore":
        return MatchScore(self.true_positives + other.true_positives, self.predictions + other.predictions,
                          self.ground_truth + other.ground_truth)

    def __str__(self) -> str:
        return (f"P {self.precision:.3f} R {self.recall:.3f} F1 {self.f1:.3f} "
                f"({self.true_positives} TP / {self.predictions} pred / {self.ground_truth} GT)")


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``[N, M]`` of boxes ``a [N, 4]`` and ``b [M, 4]`` (``[x0, y0, x1, y1]``)."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match_boxes(pred: np.ndarray, gt: np.ndarray, iou_thresh: float = 0.5) -> MatchScore:
    """One-to-one greedy matching of ``pred [N, 4]`` to ``gt [M, 4]`` at IoU >= ``iou_thresh``."""
    pred, gt = np.asarray(pred, float).reshape(-1, 4), np.asarray(gt, float).reshape(-1, 4)
    if len(pred) == 0 or len(gt) == 0:
        return MatchScore(0, len(pred), len(gt))
    iou = box_iou(pred, gt)
    pairs = np.argwhere(iou >= iou_thresh)
    order = np.argsort(-iou[pairs[:, 0], pairs[:, 1]])
    used_p, used_g, tp = set(), set(), 0
    for i, j in pairs[order]:
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
            tp += 1
    return MatchScore(tp, len(pred), len(gt))
