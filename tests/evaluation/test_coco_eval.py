"""pycocotools numbers on hand-made boxes equal AP computed by hand.

COCO AP is the mean, over 10 IoU thresholds and the 101 recall points r = 0.00, 0.01, ...,
1.00, of the interpolated precision p(r) = max precision at any recall >= r (0 when recall r
is never reached). With exact boxes every IoU threshold gives the same value, so the
hand computation below only walks the score-ranked detections once.
"""
from __future__ import annotations

import pytest

from detector.data.classes import DSV2_ID_BY_NAME
from detector.evaluation.coco_eval import DetectionsError, evaluate_detections, run_cocoeval

BLACK = DSV2_ID_BY_NAME["noteheadBlackOnLine"]
CLEF = DSV2_ID_BY_NAME["clefG"]
NAMES = ["noteheadBlackOnLine", "clefG"]


def ground_truth(boxes_by_class: dict[int, list[list[float]]], width: int = 3000, height: int = 4000) -> dict:
    """A one-page COCO ground truth from ``{category_id: [[x, y, w, h], ...]}``."""
    pairs = [(cat, box) for cat, boxes in boxes_by_class.items() for box in boxes]
    annotations = [
        {"id": i, "image_id": 1, "category_id": cat, "bbox": box, "area": box[2] * box[3], "iscrowd": 0}
        for i, (cat, box) in enumerate(pairs, start=1)
    ]
    return {
        "images": [{"id": 1, "width": width, "height": height}],
        "annotations": annotations,
        "categories": [{"id": DSV2_ID_BY_NAME[n], "name": n} for n in NAMES],
    }


def detection(cat: int, box: list[float], score: float, image_id: int = 1) -> dict:
    return {"image_id": image_id, "category_id": cat, "bbox": box, "score": score}


A, B, FAR = [100, 100, 20, 16], [300, 100, 20, 16], [900, 900, 20, 16]


def test_perfect_detections_give_ap_one():
    # given two classes, every box detected exactly
    gt = ground_truth({BLACK: [A, B], CLEF: [[50, 50, 40, 110]]})
    results = [detection(BLACK, A, 0.9), detection(BLACK, B, 0.8), detection(CLEF, [50, 50, 40, 110], 0.7)]
    # when scored
    report = evaluate_detections(gt, results, NAMES, score_thresh=0.5, max_dets=2000)
    # then every AP, precision and recall is 1
    for key in ("map", "map50", "map75", "map_small", "map_medium", "precision", "recall"):
        assert report.summary[key] == pytest.approx(1.0), key
    assert [c.ap for c in report.per_class] == [pytest.approx(1.0)] * 2


def test_one_missed_of_two_gives_51_of_101():
    # given two noteheads, one found
    gt = ground_truth({BLACK: [A, B]})
    report = evaluate_detections(gt, [detection(BLACK, A, 0.9)], NAMES, 0.5, 2000)
    # then: recall reaches 0.5 at precision 1 and never more, so p(r) = 1 for the 51 recall
    # points r = 0.00 .. 0.50 and 0 for the 50 points above: AP = 51 / 101
    assert report.summary["map"] == pytest.approx(51 / 101)
    assert report.summary["map50"] == pytest.approx(51 / 101)
    assert report.summary["recall"] == pytest.approx(0.5)
    assert report.summary["precision"] == pytest.approx(1.0)


def test_false_positive_ranked_above_the_true_positive_halves_ap():
    # given one notehead, and a higher-scoring detection where there is none
    gt = ground_truth({BLACK: [A]})
    report = evaluate_detections(gt, [detection(BLACK, FAR, 0.9), detection(BLACK, A, 0.8)], NAMES, 0.5, 2000)
    # then the ranked list is FP, TP: precision 0/1 then 1/2 at recall 1; interpolated,
    # p(r) = 0.5 for every r in 0.00 .. 1.00, so AP = 0.5 (ranked the other way it would be 1)
    assert report.summary["map"] == pytest.approx(0.5)
    assert report.per_class[0].tp == 1 and report.per_class[0].fp == 1


def test_false_positive_between_two_true_positives():
    # given two noteheads and the ranking TP (0.9), FP (0.8), TP (0.7)
    gt = ground_truth({BLACK: [A, B]})
    results = [detection(BLACK, A, 0.9), detection(BLACK, FAR, 0.8), detection(BLACK, B, 0.7)]
    report = evaluate_detections(gt, results, NAMES, 0.5, 2000)
    # then (recall, precision) = (0.5, 1), (0.5, 0.5), (1, 2/3): p(r) = 1 for the 51 points
    # r <= 0.50 and 2/3 for the 50 points above, so AP = (51 + 50 * 2/3) / 101
    assert report.summary["map"] == pytest.approx((51 + 50 * 2 / 3) / 101)


def test_precision_and_recall_count_only_detections_above_the_threshold():
    # given a true positive above the threshold, a false positive above, a true positive below
    gt = ground_truth({BLACK: [A, B]})
    results = [detection(BLACK, A, 0.9), detection(BLACK, FAR, 0.8), detection(BLACK, B, 0.2)]
    report = evaluate_detections(gt, results, NAMES, score_thresh=0.5, max_dets=2000)
    # then precision = 1/2 and recall = 1/2 at the threshold, while AP still uses all three
    row = report.per_class[0]
    assert (row.tp, row.fp, row.detections, row.instances) == (1, 1, 2, 2)
    assert row.precision == pytest.approx(0.5) and row.recall == pytest.approx(0.5)
    assert report.summary["map"] == pytest.approx((51 + 50 * 2 / 3) / 101)


DENSE_CLASSES = ["noteheadBlackOnLine", "noteheadBlackInSpace", "augmentationDot", "keyFlat", "articStaccatoAbove"]


def test_a_page_of_650_symbols_is_not_truncated():
    # given a dense page: 650 symbols, 130 of each of 5 classes, all detected exactly
    # (COCO's cap is per image AND class, so each class must exceed 100 to show it)
    gt = ground_truth({})
    gt["categories"] = [{"id": DSV2_ID_BY_NAME[n], "name": n} for n in DENSE_CLASSES]
    results = []
    for i in range(650):
        box = [float(20 + 40 * (i % 60)), float(20 + 60 * (i // 60)), 20.0, 16.0]
        cat = DSV2_ID_BY_NAME[DENSE_CLASSES[i % 5]]
        gt["annotations"].append({"id": i + 1, "image_id": 1, "category_id": cat, "bbox": box, "area": 320.0})
        results.append(detection(cat, box, 0.5 + i / 2000))
    # when scored with maxDets raised to 2000
    report = evaluate_detections(gt, results, DENSE_CLASSES, 0.3, max_dets=2000)
    # then AP is 1 and every box is a true positive
    assert report.summary["map"] == pytest.approx(1.0)
    assert report.summary["recall"] == pytest.approx(1.0) and sum(c.tp for c in report.per_class) == 650
    # while at COCO's default maxDets = 100 (what summarize() reports) only the 100 best of
    # each class count: recall 100/130 ~ 0.769, reached at the 77 recall points 0.00 .. 0.76,
    # so AP = 77/101
    stock = run_cocoeval(gt, results, [DSV2_ID_BY_NAME[n] for n in DENSE_CLASSES], max_dets=100)
    assert stock.params.maxDets[-1] == 100
    assert stock.eval["precision"][:, :, :, 0, -1].mean() == pytest.approx(77 / 101)


def test_group_map_is_the_mean_of_its_classes():
    # given two notehead classes: one perfect, one half found
    half = DSV2_ID_BY_NAME["noteheadHalfOnLine"]
    names = ["noteheadBlackOnLine", "noteheadHalfOnLine"]
    gt = ground_truth({BLACK: [A], half: [B, FAR]})
    gt["categories"] = [{"id": DSV2_ID_BY_NAME[n], "name": n} for n in names]
    report = evaluate_detections(gt, [detection(BLACK, A, 0.9), detection(half, B, 0.9)], names, 0.5, 2000)
    # then the noteheads group's mAP is (1 + 51/101) / 2, its recall 2 of 3
    group = next(g for g in report.per_group if g.name == "noteheads")
    assert group.map == pytest.approx((1 + 51 / 101) / 2)
    assert group.recall == pytest.approx(2 / 3) and group.classes == 2


def test_no_detections_gives_zero_ap_and_undefined_precision():
    gt = ground_truth({BLACK: [A]})
    report = evaluate_detections(gt, [], NAMES, 0.5, 2000)
    assert report.summary["map"] == 0.0
    assert report.summary["precision"] is None and report.summary["recall"] == 0.0
    # a class without ground truth has no AP (None), not 0
    assert report.per_class[1].ap is None


def test_unknown_class_is_a_clear_error():
    gt = ground_truth({BLACK: [A]})
    with pytest.raises(DetectionsError, match=r"detection 1: unknown class: category_id 42 \(DSv2 class 'stem'"):
        evaluate_detections(gt, [detection(BLACK, A, 0.9), detection(42, B, 0.9)], NAMES, 0.5, 2000)
    with pytest.raises(DetectionsError, match="category_id 999 .not a DSv2 deepscores id"):
        evaluate_detections(gt, [detection(999, B, 0.9)], NAMES, 0.5, 2000)


def test_unknown_image_id_is_a_clear_error():
    gt = ground_truth({BLACK: [A]})
    with pytest.raises(DetectionsError, match="detection 0: unknown image id 7"):
        evaluate_detections(gt, [detection(BLACK, A, 0.9, image_id=7)], NAMES, 0.5, 2000)


def test_malformed_detection_is_a_clear_error():
    gt = ground_truth({BLACK: [A]})
    with pytest.raises(DetectionsError, match="bbox must be"):
        evaluate_detections(gt, [detection(BLACK, [1, 2, 3], 0.9)], NAMES, 0.5, 2000)
    with pytest.raises(DetectionsError, match="expected keys"):
        evaluate_detections(gt, [{"image_id": 1, "bbox": A}], NAMES, 0.5, 2000)


SMALL = DSV2_ID_BY_NAME["noteheadBlackOnLineSmall"]
BRACE = DSV2_ID_BY_NAME["brace"]


def test_group_as_one_ap_forgives_a_wrong_subclass_but_class_ap_does_not():
    # given two noteheads, one labelled with the wrong notehead subclass (small)
    names = ["noteheadBlackOnLine", "noteheadBlackOnLineSmall", "clefG"]
    gt = ground_truth({BLACK: [A, B]})
    gt["categories"] = [{"id": DSV2_ID_BY_NAME[n], "name": n} for n in names]
    results = [detection(BLACK, A, 0.9), detection(SMALL, B, 0.8)]
    # when scored
    report = evaluate_detections(gt, results, names, 0.5, 2000)
    noteheads = next(g for g in report.per_group if g.name == "noteheads")
    # then the class AP of noteheadBlackOnLine is 51/101 (one of two found), the small class
    # has no ground truth (undefined), so the group's class mean is 51/101 ...
    assert noteheads.map50 == pytest.approx(51 / 101)
    # ... while the group as one class found both noteheads at precision 1
    assert noteheads.located_map50 == pytest.approx(1.0)
    assert noteheads.located_map == pytest.approx(1.0)


def test_core_map_leaves_out_the_other_group():
    # given a perfectly found notehead and a missed brace (group "other")
    names = ["noteheadBlackOnLine", "brace"]
    gt = ground_truth({BLACK: [A], BRACE: [[10, 10, 30, 400]]})
    gt["categories"] = [{"id": DSV2_ID_BY_NAME[n], "name": n} for n in names]
    report = evaluate_detections(gt, [detection(BLACK, A, 0.9)], names, 0.5, 2000)
    # then the overall mAP averages 1 and 0, the core mAP only the notehead
    assert report.summary["map"] == pytest.approx(0.5)
    assert report.summary["core_map"] == pytest.approx(1.0)
    assert report.summary["core_map50"] == pytest.approx(1.0)
