"""Turn head outputs into detections: per-level top-k, score threshold, class-aware NMS.

Candidates are the (location, class) pairs whose class probability exceeds ``score_thresh``
(the original FCOS's pre-NMS threshold: an untrained or unsure model yields few candidates
instead of every location, which would make page-level NMS quadratic in ~100k boxes). Their
score is ``sqrt(sigmoid(cls) * sigmoid(centerness))`` (torchvision's FCOS): centerness demotes
boxes predicted from a symbol's rim, and the square root keeps scores on the probability scale. The top-k is taken per level so the
~65k P2 locations of a 1024 px tile cannot crowd the large symbols of P4/P5 out.
"""
from __future__ import annotations

import torch
from torchvision.ops import batched_nms, clip_boxes_to_image

from detector.model.geometry import decode_ltrb


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
) -> list[dict[str, torch.Tensor]]:
    """Decode a batch.

    Args:
        head_outputs: ``cls_logits`` [B, P, C], ``box_ltrb`` [B, P, 4], ``centerness_logits`` [B, P].
        points: [P, 2]; level_sizes: locations per level (sum = P); image_size: (H, W).
    Returns:
        per image ``{"boxes": [K, 4], "scores": [K], "labels": [K]}``, best first, K <= max_detections.
    """
    cls_logits = head_outputs["cls_logits"].float()
    box_ltrb = head_outputs["box_ltrb"].float()
    ctr_logits = head_outputs["centerness_logits"].float()
    num_classes = cls_logits.shape[2]
    results = []
    for image in range(cls_logits.shape[0]):
        boxes_all, scores_all, labels_all = [], [], []
        start = 0
        for size in level_sizes:
            level = slice(start, start + size)
            start += size
            class_prob = torch.sigmoid(cls_logits[image, level])  # [P_l, C]
            scores = torch.sqrt(class_prob * torch.sigmoid(ctr_logits[image, level])[:, None]).flatten()
            keep = class_prob.flatten() > score_thresh
            scores = scores[keep]
            flat_index = torch.nonzero(keep).flatten()
            scores, order = scores.topk(min(topk_per_level, scores.numel()))
            flat_index = flat_index[order]
            location = flat_index // num_classes + level.start
            boxes_all.append(decode_ltrb(points[location], box_ltrb[image, location]))
            scores_all.append(scores)
            labels_all.append(flat_index % num_classes)
        boxes = clip_boxes_to_image(torch.cat(boxes_all), image_size)
        scores, labels = torch.cat(scores_all), torch.cat(labels_all)
        keep = batched_nms(boxes, scores, labels, nms_thresh)[:max_detections]
        results.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
    return results
