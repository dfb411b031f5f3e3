"""Small helpers of the benchmark and the model experiments: crops, mAP, peak memory.

Kept apart from ``detector/bench.py`` so the measurement scripts in tests/experiments reuse
exactly the code the benchmark uses.
"""
from __future__ import annotations

import contextlib
import io
import resource
import sys

import numpy as np
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval


def random_crop(
    image: np.ndarray, boxes: np.ndarray, labels: np.ndarray, size: int, rng: np.random.Generator,
    y_range: tuple[int, int] | None = None,
) -> tuple[torch.Tensor, dict]:
    """A ``size`` square of a gray page (inside rows ``y_range``) with the boxes at least half inside, clipped."""
    height, width = image.shape
    y_low, y_high = y_range or (0, height)
    x0 = int(rng.integers(0, max(width - size, 0) + 1))
    y0 = int(rng.integers(y_low, max(y_high - size, y_low) + 1))
    pixels = image[y0 : y0 + size, x0 : x0 + size]
    crop = np.full((size, size), 255, dtype=np.uint8)
    crop[: pixels.shape[0], : pixels.shape[1]] = pixels
    shifted = boxes - np.array([x0, y0, x0, y0], dtype=np.float32)
    clipped = np.clip(shifted, 0, size)
    area = np.prod(shifted[:, 2:] - shifted[:, :2], axis=1)
    clipped_area = np.prod(np.clip(clipped[:, 2:] - clipped[:, :2], 0, None), axis=1)
    keep = (clipped_area >= 0.5 * area) & (clipped[:, 2] - clipped[:, 0] >= 1) & (clipped[:, 3] - clipped[:, 1] >= 1)
    target = {"boxes": torch.from_numpy(clipped[keep]).float(), "labels": torch.from_numpy(labels[keep]).long()}
    return torch.from_numpy(crop.astype(np.float32) / 255.0)[None], target


def coco_map(
    ground_truth: list[tuple[np.ndarray, np.ndarray]],
    detections: list[dict[str, np.ndarray]],
    num_classes: int,
    classes: list[int] | None = None,
    max_dets: int = 2000,
    iou50: bool = False,
) -> float:
    """COCO mAP@[.5:.95] (or mAP@.5 with ``iou50``) over ``classes`` (label indices) with ground truth.

    Args:
        ground_truth: per page ``(boxes [N, 4] xyxy, labels [N])``.
        detections: per page ``{"boxes", "scores", "labels"}`` numpy arrays.
    """
    images, annotations, results = [], [], []
    for page, ((boxes, labels), found) in enumerate(zip(ground_truth, detections)):
        images.append({"id": page + 1})
        for box, label in zip(boxes.tolist(), labels.tolist()):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": page + 1, "category_id": int(label) + 1,
                                "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": 0})
        for box, score, label in zip(found["boxes"].tolist(), found["scores"].tolist(), found["labels"].tolist()):
            results.append({"image_id": page + 1, "category_id": int(label) + 1, "score": float(score),
                            "bbox": [box[0], box[1], box[2] - box[0], box[3] - box[1]]})
    wanted = set(range(num_classes) if classes is None else classes)
    present = sorted({a["category_id"] for a in annotations if a["category_id"] - 1 in wanted})
    if not present or not results:
        return 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations,
                      "categories": [{"id": c + 1} for c in range(num_classes)]}
        gt.createIndex()
        dt = gt.loadRes(results)
        evaluator = COCOeval(gt, dt, "bbox")
        evaluator.params.catIds = present
        evaluator.params.maxDets = [1, 10, max_dets]
        evaluator.evaluate()
        evaluator.accumulate()
    # precision [T, R, K, A, M]; COCOeval.summarize's stats[0] is hard-wired to maxDets=100,
    # which truncates a dense page, so the mean is taken here at maxDets = max_dets.
    precision = evaluator.eval["precision"][:, :, :, 0, -1]
    if iou50:
        precision = precision[:1]
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else 0.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
