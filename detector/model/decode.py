"""Turn head outputs into detections: per-level top-k, score threshold, class-aware NMS,
and optionally a class-agnostic NMS that keeps one class per box.

Candidates are the (location, class) pairs whose class probability exceeds ``score_thresh``
(the original FCOS's pre-NMS threshold: an untrained or unsure model yields few candidates
instead of every location, which would make page-level NMS quadratic in ~100k boxes). Their
score is ``sqrt(sigmoid(cls) * sigmoid(centerness))`` (torchvision's FCOS): centerness demotes
boxes predicted from a symbol's rim, and the square root keeps scores on the probability scale.
The top-k is taken per level so the ~65k P2 locations of a 1024 px tile cannot crowd the large
symbols of P4/P5 out.
"""
from __future__ import annotations

import math
from typing import Optional

import torch
from torchvision.ops import clip_boxes_to_image, nms

from detector.model.geometry import decode_ltrb


def suppress_duplicates(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
    nms_thresh: float, cross_class_nms_thresh: Optional[float], max_detections: int,
) -> torch.Tensor:
    """Indices of the boxes [N, 4] to keep, best first: class-aware NMS at ``nms_thresh``,
    then class-agnostic NMS at ``cross_class_nms_thresh`` (None: skipped).

    An FCOS location predicts one box and a score for every class, so an unsure notehead
    comes out twice on the same box, e.g. ``noteheadBlackOnLine`` 0.8 and
    ``noteheadBlackOnLineSmall`` 0.2. Class-aware NMS keeps both; the lower one is a false
    positive of the rare class when the first label is right, and the only hit when it is
    wrong. Measured (config.ModelConfig.cross_class_nms_thresh): the second pass nearly
    doubles precision at the operating threshold but costs recall and mAP, so it is opt-in.
    """
    keep = class_aware_nms(boxes, scores, labels, nms_thresh)  # sorted by decreasing score
    if cross_class_nms_thresh is not None and keep.numel():
        keep = keep[nms(boxes[keep], scores[keep], cross_class_nms_thresh)]
    return keep[:max_detections]


def class_aware_nms(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor,
                    iou_thresh: float) -> torch.Tensor:
    """NMS within each class, in one call: each class's boxes are moved to their own region of
    the plane (offset by label x the largest coordinate + 1), so boxes of different classes
    never overlap. ``torchvision.ops.batched_nms`` does the same up to a few thousand boxes and
    switches to one NMS call per class above that, which on a page of 132 classes was most of
    the NMS time (3,675 calls for the real DSv2 page). Indices sorted by decreasing score.
    """
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    # float64: the offsets reach 10^5-10^6 px, where float32 would round coordinates to 1/16 px
    shifted = boxes.double()
    shifted = shifted + (labels.double() * (shifted.max() + 1))[:, None]
    return nms(shifted, scores.double(), iou_thresh)


@torch.no_grad()
def decode_detections(
    head_outputs: dict[str, torch.Tensor],
    points: torch.Tensor,
    level_sizes: list[int],
    image_size: tuple[int, int],
    score_thresh: float,
    nms_thresh: float,
    topk_per_level: int,
    max_detections: int,
    cross_class_nms_thresh: Optional[float] = None,
) -> list[dict[str, torch.Tensor]]:
    """Decode a batch.

    Args:
        head_outputs: ``cls_logits`` [B, P, C], ``box_ltrb`` [B, P, 4], ``centerness_logits`` [B, P].
        points: [P, 2]; level_sizes: locations per level (sum = P); image_size: (H, W).
    Returns:
        per image ``{"boxes": [K, 4], "scores": [K], "labels": [K]}``, best first, K <= max_detections.
    """
    cls_logits = head_outputs["cls_logits"]  # compared in its own dtype: bf16 -> fp32 is exact
    box_ltrb = head_outputs["box_ltrb"].float()
    ctr_logits = head_outputs["centerness_logits"].float()
    num_classes = cls_logits.shape[2]
    # sigmoid(x) > t  <=>  x > logit(t): compare the raw logits and take sigmoids of the few
    # candidates only (most of a page is paper: sigmoid over every location and class was a
    # fifth of the page inference time)
    thresh = min(max(score_thresh, 1e-12), 1 - 1e-7)
    logit_thresh = math.log(thresh / (1 - thresh))
    results = []
    for image in range(cls_logits.shape[0]):
        boxes_all, scores_all, labels_all = [], [], []
        start = 0
        for size in level_sizes:
            level = slice(start, start + size)
            start += size
            level_logits = cls_logits[image, level].flatten()  # [P_l * C]
            flat_index = torch.nonzero(level_logits > logit_thresh).flatten()
            location = flat_index // num_classes + level.start
            class_prob = torch.sigmoid(level_logits[flat_index].float())
            scores = torch.sqrt(class_prob * torch.sigmoid(ctr_logits[image, location]))
            scores, order = scores.topk(min(topk_per_level, scores.numel()))
            flat_index = flat_index[order]
            location = flat_index // num_classes + level.start
            boxes_all.append(decode_ltrb(points[location], box_ltrb[image, location]))
            scores_all.append(scores)
            labels_all.append(flat_index % num_classes)
        boxes = clip_boxes_to_image(torch.cat(boxes_all), image_size)
        scores, labels = torch.cat(scores_all), torch.cat(labels_all)
        keep = suppress_duplicates(boxes, scores, labels, nms_thresh, cross_class_nms_thresh, max_detections)
        results.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
    return results
