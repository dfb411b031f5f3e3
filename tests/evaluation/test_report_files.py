"""Report files and pictures on the real DSv2 sample page, its ground truth perturbed as detections."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from detector.data.classes import STAGE2_CLASSES
from detector.data.deepscores import load_page_image
from detector.evaluation.coco_eval import evaluate_detections
from detector.evaluation.matching import detections_by_image
from detector.evaluation.plots import FALSE_POSITIVE, MISSED, TRUE_POSITIVE, confusion_counts, render_overlay
from detector.evaluation.run import write_outputs


@pytest.fixture(scope="module")
def report(sample_gt, perturbed_results):
    return evaluate_detections(sample_gt, perturbed_results, STAGE2_CLASSES, score_thresh=0.3, max_dets=2000)


def test_perturbed_ground_truth_scores_between_zero_and_one(report):
    # given 90% of the boxes found with ~5% jitter, plus false positives
    s = report.summary
    # then the loose IoU is near-perfect, the strict one lower, and recall below 0.9
    assert 0.75 < s["map50"] < 1.0
    assert s["map"] < s["map50"]
    assert 0.5 < s["recall"] < 0.9 and s["precision"] < 1.0
    assert s["instances"] == 343 and s["images"] == 1
    assert {g.name for g in report.per_group} >= {"noteheads", "clefs", "rests", "accidentals", "dots"}


def test_report_files_are_written(tmp_path, report, sample_pages, perturbed_results):
    # when the report and its pictures are written
    report.provenance = {"checkpoint": "ckpt.pt", "data": "sample.json", "config": {"eval": {"max_dets": 2000}}}
    write_outputs(report, sample_pages, perturbed_results, list(STAGE2_CLASSES), 0.3, tmp_path, overlay_pages=2)
    # then report.json holds provenance, summary, groups and classes
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["provenance"]["checkpoint"] == "ckpt.pt"
    assert data["summary"]["map"] == pytest.approx(report.summary["map"])
    assert [g["name"] for g in data["per_group"]][0] == "noteheads"
    assert len(data["per_class"]) == len(STAGE2_CLASSES)
    # report.md holds the three tables
    markdown = (tmp_path / "report.md").read_text()
    for title in ("## Summary", "## Core symbols by group", "## Per class", "| noteheadBlackOnLine | noteheads |"):
        assert title in markdown
    # and the pictures are real PNGs; the overlay is downscaled to 1600 px
    for name in ("pr_curves.png", "confusion_matrix.png"):
        with Image.open(tmp_path / name) as img:
            assert img.format == "PNG" and min(img.size) > 300
    overlay = tmp_path / "overlays" / "lg-5230237-aug-emmentaler--page-2_overlay.png"
    with Image.open(overlay) as img:
        assert max(img.size) == 1600


def test_overlay_colours_agree_with_cocoeval_counts(report, sample_pages, perturbed_results):
    # given the overlay of the page at the report's threshold
    page = sample_pages[0]
    detections = detections_by_image(perturbed_results, STAGE2_CLASSES)[page.image_id]
    picture, counts = render_overlay(load_page_image(page.path), page, detections, 0.3)
    # then its hits and false positives are exactly COCOeval's, and misses = boxes - hits
    assert counts["tp"] == sum(c.tp for c in report.per_class)
    assert counts["fp"] == sum(c.fp for c in report.per_class)
    assert counts["missed"] == report.summary["instances"] - counts["tp"]
    # and all three colours are drawn
    pixels = np.asarray(picture)  # [H, W, 3]
    for colour in (TRUE_POSITIVE, FALSE_POSITIVE, MISSED):
        assert (pixels == colour).all(axis=-1).any(), colour


def test_confusion_matrix_shows_the_relabelled_noteheads(sample_pages, perturbed_results):
    # when detections are matched regardless of class
    labels, counts = confusion_counts(sample_pages, detections_by_image(perturbed_results, STAGE2_CLASSES), 0.0)
    black, half = labels.index("noteheadBlackOnLine"), labels.index("noteheadHalfOnLine")
    # then the 5 black noteheads detected as half noteheads sit off the diagonal
    assert counts[black, half] == 5
    # the 20 invented boxes are background; every ground-truth box is counted once
    assert counts[-1, black] == 20
    assert counts[:-1].sum() == 343


def test_perfect_detections_give_a_diagonal_confusion_matrix(sample_pages, sample_gt):
    results = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
               for a in sample_gt["annotations"]]
    labels, counts = confusion_counts(sample_pages, detections_by_image(results, STAGE2_CLASSES), 0.5)
    assert np.array_equal(counts, np.diag(np.diag(counts)))
    assert np.trace(counts) == 343
