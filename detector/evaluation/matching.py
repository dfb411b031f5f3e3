"""Greedy detection-to-ground-truth matching for the pictures (overlays, confusion matrix).

The numbers in the report come from COCOeval's own matching; this is the same rule in a
few lines, so that a picture can colour each box: detections in descending score order
each take the still-unmatched ground-truth box of highest IoU >= ``iou_thresh``. With labels
given, only boxes of the same class may match (overlays); without, any class may (the
confusion matrix, which asks "what was this symbol mistaken for?").
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np
import torch
from torchvision.ops import box_iou

from detector.data.classes import DSV2_ID_BY_NAME


@dataclass
class PageDetections:
    """One page's detections in page pixels (from a COCO results list or the model)."""

    boxes: np.ndarray  # [K, 4] float, x0 y0 x1 y1
    scores: np.ndarray  # [K]
    class_names: list[str]  # [K]

    @staticmethod
    def empty() -> "PageDetections":
        """No detections (a page the detector found nothing on)."""
        return PageDetections(np.zeros((0, 4)), np.zeros(0), [])


def detections_by_image(results: Sequence[dict], class_names: Sequence[str]) -> dict[int, PageDetections]:
    """Split a COCO results list ([x, y, w, h] boxes, DSv2 category ids) into pages."""
    name_of_id = {DSV2_ID_BY_NAME[n]: n for n in class_names}
    rows: dict[int, list[dict]] = {}
    for det in results:
        if det["category_id"] in name_of_id:
            rows.setdefault(det["image_id"], []).append(det)
    pages = {}
    for image_id, dets in rows.items():
        xywh = np.asarray([d["bbox"] for d in dets], dtype=np.float64).reshape(-1, 4)
        pages[image_id] = PageDetections(
            boxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
            scores=np.asarray([d["score"] for d in dets], dtype=np.float64),
            class_names=[name_of_id[d["category_id"]] for d in dets],
        )
    return pages


def greedy_match(
    det_boxes: np.ndarray,
    det_scores: np.ndarray,
    gt_boxes: np.ndarray,
    iou_thresh: float = 0.5,
    det_labels: Optional[Sequence[str]] = None,
    gt_labels: Optional[Sequence[str]] = None,
) -> np.ndarray:
    """Index of the matched ground-truth box for each detection, -1 when unmatched.

    Args:
        det_boxes: ``[D, 4]`` x0 y0 x1 y1. det_scores: ``[D]``. gt_boxes: ``[G, 4]``.
        det_labels, gt_labels: class names; when given, only equal labels may match.
    Returns:
        ``[D]`` int64 in the detections' original order.
    """
    num_dets, num_gts = len(det_boxes), len(gt_boxes)
    matched_gt = np.full(num_dets, -1, dtype=np.int64)
    if num_dets == 0 or num_gts == 0:
        return matched_gt
    iou = box_iou(torch.as_tensor(det_boxes, dtype=torch.float64),
                  torch.as_tensor(gt_boxes, dtype=torch.float64)).numpy()  # [D, G]
    if det_labels is not None and gt_labels is not None:
        same = np.asarray(det_labels, dtype=object)[:, None] == np.asarray(gt_labels, dtype=object)[None, :]
        iou = np.where(same, iou, -1.0)
    gt_taken = np.zeros(num_gts, dtype=bool)
    for d in np.argsort(-np.asarray(det_scores), kind="mergesort"):  # stable, as COCOeval
        candidates = np.where(gt_taken, -1.0, iou[d])
        g = int(candidates.argmax())
        if candidates[g] >= iou_thresh:
            matched_gt[d], gt_taken[g] = g, True
    return matched_gt
