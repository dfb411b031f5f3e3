"""COCO bbox metrics by pycocotools, without its 100-detections-per-image truncation.

Users compare against published DSv2 numbers, so AP is pycocotools' ``COCOeval`` (bbox,
101-point interpolated precision, IoU 0.50:0.05:0.95), never a home-made approximation.
Two things differ from ``COCOeval.summarize()``:

- ``params.maxDets`` is raised to ``[1, 100, max_dets]`` and every number is read at
  ``max_dets``. COCO's cap is per image AND class; a DSv2 page holds ~650 symbols, ~150 of
  them black noteheads, so the default 100 silently drops true positives. ``summarize()``
  hard-codes 100 for some lines, so the numbers are computed here from
  ``eval["precision"]`` the way ``_summarize`` does (mean over entries > -1).
- Precision and recall at one operating score threshold, which COCO does not report.

Two summaries are added for the Stage-2 question "how good are the core symbols?":

- ``core_map`` / ``core_map50``: COCO's class mean over the classes of the named groups
  (noteheads ... dynamics), i.e. without ``other`` (braces, tuplets, fingerings, ...).
- per group, ``located_map`` / ``located_map50``: COCOeval run again with every class of a
  group merged into one category. It answers "is there a notehead here?" whatever its
  subclass, and is not dragged down by a rare subclass with 1-3 instances whose AP is
  decided by a handful of confusions (``noteheadHalfOnLineSmall`` vs ``noteheadHalfOnLine``).
  Reconstruction only needs the group, so this is the figure that predicts its quality.
"""
from __future__ import annotations

import contextlib
import io
from typing import Any, Optional, Sequence

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from detector.data.classes import DSV2_ID_BY_NAME, canonical_name
from detector.evaluation.groups import GROUPS, class_group
from detector.evaluation.report import ClassResult, EvalReport, GroupResult

# Indices into COCOeval's accumulated arrays.
_IOU50, _IOU75 = 0, 5  # params.iouThrs = 0.50, 0.55, ..., 0.95
_AREA_ALL, _AREA_SMALL, _AREA_MEDIUM = 0, 1, 2  # params.areaRng order: all, small, medium, large


#: DSv2 deepscores id -> canonical class name (to name an unexpected category in errors).
DSV2_NAME_BY_ID: dict[int, str] = {cat_id: name for name, cat_id in DSV2_ID_BY_NAME.items()}


class DetectionsError(ValueError):
    """Detections that do not fit the ground truth (one line naming the offending entry)."""


def max_dets_ladder(max_dets: int) -> list[int]:
    """COCOeval ``maxDets``: ascending, COCO's usual 1 and 100, ending at ``max_dets``."""
    if max_dets < 1:
        raise ValueError(f"max_dets must be >= 1, got {max_dets}")
    return sorted({1, min(100, max_dets), max_dets})


def check_detections(gt_coco: dict, results: Sequence[Any]) -> None:
    """Check COCO results against the ground truth before pycocotools sees them.

    Raises:
        DetectionsError: not a list, an entry without image_id/category_id/bbox/score, a
            malformed bbox, or an image id or category id the ground truth does not have.
    """
    if not isinstance(results, (list, tuple)):
        raise DetectionsError(f"detections must be a JSON list of COCO results, got {type(results).__name__}")
    image_ids = {img["id"] for img in gt_coco["images"]}
    category_ids = {cat["id"] for cat in gt_coco["categories"]}
    for i, det in enumerate(results):
        if not isinstance(det, dict) or not {"image_id", "category_id", "bbox", "score"} <= det.keys():
            raise DetectionsError(f"detection {i}: expected keys image_id, category_id, bbox, score")
        if det["image_id"] not in image_ids:
            raise DetectionsError(
                f"detection {i}: unknown image id {det['image_id']!r} (not in the ground truth's "
                f"{len(image_ids)} images)"
            )
        if det["category_id"] not in category_ids:
            known = DSV2_NAME_BY_ID.get(det["category_id"])
            what = f"DSv2 class {known!r} is not among the evaluated classes" if known else "not a DSv2 deepscores id"
            raise DetectionsError(f"detection {i}: unknown class: category_id {det['category_id']!r} ({what})")
        bbox = det["bbox"]
        if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4 and all(isinstance(v, (int, float)) for v in bbox)):
            raise DetectionsError(f"detection {i}: bbox must be [x, y, w, h] numbers, got {bbox!r}")
        if not isinstance(det["score"], (int, float)):
            raise DetectionsError(f"detection {i}: score must be a number, got {det['score']!r}")


def _quiet_coco(dataset: dict) -> COCO:
    """A pycocotools COCO object built from a dict, without its console chatter."""
    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _ground_truth_coco(gt_coco: dict) -> COCO:
    # Annotation ids are renumbered from 1: COCOeval marks "unmatched" with id 0, so a
    # ground-truth box with id 0 would silently count as a miss.
    annotations = []
    for new_id, ann in enumerate(gt_coco["annotations"], start=1):
        x, y, w, h = ann["bbox"]
        annotations.append({**ann, "id": new_id, "area": ann.get("area", w * h), "iscrowd": ann.get("iscrowd", 0)})
    return _quiet_coco({**gt_coco, "annotations": annotations})


def _detections_coco(gt_coco: dict, results: Sequence[dict]) -> COCO:
    # Built like COCO.loadRes (area = w * h, ids from 1) but also for an empty result list.
    annotations = [
        {
            "id": i, "image_id": det["image_id"], "category_id": det["category_id"],
            "bbox": [float(v) for v in det["bbox"]], "score": float(det["score"]),
            "area": float(det["bbox"][2]) * float(det["bbox"][3]), "iscrowd": 0,
        }
        for i, det in enumerate(results, start=1)
    ]
    return _quiet_coco({"images": gt_coco["images"], "categories": gt_coco["categories"], "annotations": annotations})


def _mean_valid(values: np.ndarray) -> Optional[float]:
    """Mean over entries > -1 (COCO's "undefined" marker), None when there are none."""
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None


def _ratio(numerator: int, denominator: int) -> Optional[float]:
    return numerator / denominator if denominator else None


def run_cocoeval(gt_coco: dict, results: Sequence[dict], category_ids: list[int], max_dets: int) -> COCOeval:
    """Run pycocotools' bbox evaluation (evaluate + accumulate), quietly.

    The returned object's ``params.catIds`` is sorted (COCOeval sorts it): index K of
    ``eval["precision"] [T, R, K, A, M]`` is ``params.catIds[K]``.
    """
    coco_eval = COCOeval(_ground_truth_coco(gt_coco), _detections_coco(gt_coco, results), "bbox")
    coco_eval.params.imgIds = sorted(img["id"] for img in gt_coco["images"])
    coco_eval.params.catIds = sorted(category_ids)
    coco_eval.params.maxDets = max_dets_ladder(max_dets)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_eval.evaluate()
        coco_eval.accumulate()
    return coco_eval


def operating_point_counts(coco_eval: COCOeval, score_thresh: float) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives per class at IoU 0.5 among detections scoring >= ``score_thresh``.

    The matching is COCOeval's own (``evalImgs``, area "all"): per image and class,
    detections in descending score order each take the unmatched ground-truth box of
    highest IoU >= 0.5; an unmatched detection is a false positive. Returns ``tp [K]`` and
    ``fp [K]`` in ``params.catIds`` order.
    """
    params = coco_eval.params
    num_cats, num_areas, num_imgs = len(params.catIds), len(params.areaRng), len(params.imgIds)
    tp, fp = np.zeros(num_cats, dtype=np.int64), np.zeros(num_cats, dtype=np.int64)
    for k in range(num_cats):
        for i in range(num_imgs):
            entry = coco_eval.evalImgs[k * num_areas * num_imgs + _AREA_ALL * num_imgs + i]
            if entry is None:
                continue
            above = np.asarray(entry["dtScores"]) >= score_thresh  # [D]
            matched = entry["dtMatches"][_IOU50] > 0  # [D]
            counted = above & ~entry["dtIgnore"][_IOU50].astype(bool)
            tp[k] += int((counted & matched).sum())
            fp[k] += int((counted & ~matched).sum())
    return tp, fp


def evaluate_detections(
    gt_coco: dict,
    results: Sequence[dict],
    class_names: Sequence[str],
    score_thresh: float = 0.5,
    max_dets: int = 2000,
) -> EvalReport:
    """Score COCO-format detections against COCO ground truth with pycocotools.

    Args:
        gt_coco: COCO ground-truth dict (``detector.data.coco.to_coco``); category ids are
            DSv2 deepscores ids.
        results: COCO results, ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``.
        class_names: the evaluated classes (canonical DSv2 names), e.g. the model's.
        score_thresh: operating threshold for precision/recall (AP uses every detection).
        max_dets: COCO maxDets, per image and class; keep it above the densest class.

    Returns:
        An ``EvalReport``; per_class follows ``class_names`` order.

    Raises:
        DetectionsError: see ``check_detections``.
    """
    check_detections(gt_coco, results)
    names = [canonical_name(n) for n in class_names]
    coco_eval = run_cocoeval(gt_coco, results, [DSV2_ID_BY_NAME[n] for n in names], max_dets)
    precision = coco_eval.eval["precision"][..., -1]  # [T, R, K, A] at max_dets
    tp, fp = operating_point_counts(coco_eval, score_thresh)
    k_of_id = {cat_id: k for k, cat_id in enumerate(coco_eval.params.catIds)}
    instances = _count_by_category(gt_coco["annotations"])
    detections = _count_by_category([d for d in results if d["score"] >= score_thresh])

    per_class = []
    for name in names:
        cat_id, k = DSV2_ID_BY_NAME[name], k_of_id[DSV2_ID_BY_NAME[name]]
        n_gt = instances.get(cat_id, 0)
        per_class.append(ClassResult(
            name=name, category_id=cat_id, group=class_group(name), instances=n_gt,
            detections=detections.get(cat_id, 0),
            ap=_mean_valid(precision[:, :, k, _AREA_ALL]), ap50=_mean_valid(precision[_IOU50, :, k, _AREA_ALL]),
            tp=int(tp[k]), fp=int(fp[k]),
            precision=_ratio(int(tp[k]), int(tp[k] + fp[k])), recall=_ratio(int(tp[k]), n_gt),
        ))
    order = [k_of_id[DSV2_ID_BY_NAME[n]] for n in names]
    core_ks = [k_of_id[DSV2_ID_BY_NAME[n]] for n in names if class_group(n) != "other"]
    summary = {
        "map": _mean_valid(precision[:, :, :, _AREA_ALL]),
        "map50": _mean_valid(precision[_IOU50, :, :, _AREA_ALL]),
        "map75": _mean_valid(precision[_IOU75, :, :, _AREA_ALL]),
        "map_small": _mean_valid(precision[:, :, :, _AREA_SMALL]),
        "map_medium": _mean_valid(precision[:, :, :, _AREA_MEDIUM]),
        "core_map": _mean_valid(precision[:, :, core_ks, _AREA_ALL]),
        "core_map50": _mean_valid(precision[_IOU50, :, core_ks, _AREA_ALL]),
        "precision": _ratio(int(tp.sum()), int(tp.sum() + fp.sum())),
        "recall": _ratio(int(tp.sum()), sum(c.instances for c in per_class)),
        "score_thresh": score_thresh,
        "max_dets": max_dets,
        "images": len(gt_coco["images"]),
        "instances": sum(c.instances for c in per_class),
        "detections": sum(c.detections for c in per_class),
    }
    return EvalReport(
        summary=summary,
        per_class=per_class,
        per_group=_group_results(per_class, precision, k_of_id, _located_ap(gt_coco, results, max_dets)),
        pr_iou50=precision[_IOU50, :, order, _AREA_ALL].T,  # [R, K] in class_names order
        recall_thresholds=np.asarray(coco_eval.params.recThrs),
    )


def _count_by_category(annotations: Sequence[dict]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for ann in annotations:
        if not ann.get("iscrowd", 0):
            counts[ann["category_id"]] = counts.get(ann["category_id"], 0) + 1
    return counts


def _located_ap(gt_coco: dict, results: Sequence[dict], max_dets: int) -> dict[str, tuple[Optional[float], Optional[float]]]:
    """Group -> (AP@[.5:.95], AP50) with the group's classes merged into one category."""
    group_id = {group: index for index, group in enumerate(GROUPS, start=1)}

    def merged(items: Sequence[dict]) -> list[dict]:
        return [{**item, "category_id": group_id[class_group(DSV2_NAME_BY_ID[item["category_id"]])]}
                for item in items]

    merged_gt = {
        "images": gt_coco["images"],
        "categories": [{"id": index, "name": group} for group, index in group_id.items()],
        "annotations": merged(gt_coco["annotations"]),
    }
    coco_eval = run_cocoeval(merged_gt, merged(results), list(group_id.values()), max_dets)
    precision = coco_eval.eval["precision"][..., _AREA_ALL, -1]  # [T, R, G]
    k_of_group = {group: coco_eval.params.catIds.index(index) for group, index in group_id.items()}
    return {
        group: (_mean_valid(precision[:, :, k]), _mean_valid(precision[_IOU50, :, k]))
        for group, k in k_of_group.items()
    }


def _group_results(per_class: list[ClassResult], precision: np.ndarray, k_of_id: dict[int, int],
                   located: dict[str, tuple[Optional[float], Optional[float]]]) -> list[GroupResult]:
    """Per group: COCO's mean over the group's classes; precision/recall pooled over them;
    the group-as-one-class AP from ``located``."""
    groups = []
    for group in GROUPS:
        members = [c for c in per_class if c.group == group]
        if not members:
            continue
        ks = [k_of_id[c.category_id] for c in members]
        tp, fp = sum(c.tp for c in members), sum(c.fp for c in members)
        n_gt = sum(c.instances for c in members)
        groups.append(GroupResult(
            name=group,
            classes=sum(1 for c in members if c.instances),
            instances=n_gt,
            map=_mean_valid(precision[:, :, ks, _AREA_ALL]),
            map50=_mean_valid(precision[_IOU50, :, ks, _AREA_ALL]),
            map_small=_mean_valid(precision[:, :, ks, _AREA_SMALL]),
            located_map=located[group][0],
            located_map50=located[group][1],
            precision=_ratio(tp, tp + fp),
            recall=_ratio(tp, n_gt),
        ))
    return groups
