"""The evaluation report: numbers from COCOeval, written as report.json and report.md.

The JSON is for machines (compare runs, plot training curves) and records where the numbers
came from (checkpoint, data, config); the markdown is for people (paste it in an issue).
A metric that is undefined (no ground truth of that kind) is ``None`` in Python, ``null`` in
JSON and an em dash in markdown, never a misleading 0 or COCO's -1.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

import numpy as np

#: Summary keys, in the order the markdown table shows them, with their column titles.
SUMMARY_METRICS: tuple[tuple[str, str], ...] = (
    ("map", "mAP@[.5:.95]"),
    ("map50", "mAP50"),
    ("map75", "mAP75"),
    ("map_small", "AP small"),
    ("map_medium", "AP medium"),
    ("core_map", "core mAP"),
    ("core_map50", "core mAP50"),
    ("precision", "precision"),
    ("recall", "recall"),
)


@dataclass
class ClassResult:
    """One class: COCO AP plus precision/recall at the operating score threshold."""

    name: str
    category_id: int
    group: str
    instances: int  # ground-truth boxes
    detections: int  # detections with score >= the operating threshold
    ap: Optional[float]  # AP@[.5:.95]; None when the class has no ground truth
    ap50: Optional[float]
    tp: int  # at IoU 0.5 and the operating threshold
    fp: int
    precision: Optional[float]  # None when nothing was detected above the threshold
    recall: Optional[float]  # None when the class has no ground truth


@dataclass
class GroupResult:
    """One user group (noteheads, clefs, ...): mean of its classes' COCO precision, and the AP
    of the group as one class (``located_*``: found, whatever the subclass)."""

    name: str
    classes: int  # classes of the group that have ground truth
    instances: int
    map: Optional[float]
    map50: Optional[float]
    map_small: Optional[float]
    precision: Optional[float]
    recall: Optional[float]
    located_map: Optional[float] = None
    located_map50: Optional[float] = None


@dataclass
class EvalReport:
    """What ``evaluate_detections`` measured.

    ``summary`` keys: map, map50, map75, map_small, map_medium (COCO, at ``max_dets``),
    precision, recall (IoU 0.5, ``score_thresh``), score_thresh, max_dets, images, instances,
    detections. ``pr_iou50 [R, K]`` holds COCO's interpolated precision at IoU 0.5 for each
    recall in ``recall_thresholds [R]`` and each class of ``per_class`` (-1: no ground truth);
    it feeds the PR plots and is not written to JSON.
    """

    summary: dict[str, Any]
    per_class: list[ClassResult]
    per_group: list[GroupResult]
    provenance: dict[str, Any] = field(default_factory=dict)
    pr_iou50: np.ndarray = field(default=None, repr=False)  # [R, K]
    recall_thresholds: np.ndarray = field(default=None, repr=False)  # [R]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: provenance, summary, groups, classes."""
        return {
            "provenance": self.provenance,
            "summary": self.summary,
            "per_group": [asdict(g) for g in self.per_group],
            "per_class": [asdict(c) for c in self.per_class],
        }

    def to_json(self) -> str:
        """The report as indented JSON text."""
        return json.dumps(self.to_dict(), indent=2, default=_json_default)

    def to_markdown(self, per_class: bool = True) -> str:
        """The report as markdown: summary, per-group and (optionally) per-class tables."""
        return "\n".join(_markdown_lines(self, per_class)) + "\n"

    def save(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``report.json`` and ``report.md`` into ``out_dir``; return their paths."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        json_path, md_path = out_dir / "report.json", out_dir / "report.md"
        json_path.write_text(self.to_json())
        md_path.write_text(self.to_markdown())
        return json_path, md_path


def _json_default(value: Any) -> Any:
    """numpy scalars and paths in provenance become plain JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _fmt(value: Optional[float]) -> str:
    """A metric as markdown text: 3 decimals, or an em dash when undefined."""
    return "—" if value is None else f"{value:.3f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _markdown_lines(report: EvalReport, per_class: bool) -> list[str]:
    s = report.summary
    lines = ["# Evaluation report", ""]
    for key in ("checkpoint", "detections", "data", "split"):
        if report.provenance.get(key):
            lines.append(f"- {key}: `{report.provenance[key]}`")
    lines.append(
        f"- {s['images']} images, {s['instances']} ground-truth boxes, {s['detections']} "
        f"detections with score >= {s['score_thresh']}; COCO maxDets = {s['max_dets']}"
    )
    lines += ["", "## Summary", ""]
    lines += _table([title for _, title in SUMMARY_METRICS], [[_fmt(s[key]) for key, _ in SUMMARY_METRICS]])
    lines += ["", "## Core symbols by group", ""]
    header = ["group", "classes", "instances", "mAP", "mAP50", "AP small", "group-as-one AP", "group-as-one AP50",
              "precision", "recall"]
    rows = [
        [g.name, str(g.classes), str(g.instances), _fmt(g.map), _fmt(g.map50), _fmt(g.map_small),
         _fmt(g.located_map), _fmt(g.located_map50), _fmt(g.precision), _fmt(g.recall)]
        for g in report.per_group
    ]
    lines += _table(header, rows)
    lines += ["", "mAP, mAP50: mean over the group's classes (COCO). Group-as-one: the group's classes "
              "merged into one category (a notehead found, whatever its subclass). Core: every group but "
              "`other`."]
    if not per_class:
        return lines
    lines += ["", "## Per class (classes with ground truth or detections)", ""]
    header = ["class", "group", "instances", "detections", "AP", "AP50", "precision", "recall"]
    rows = [
        [c.name, c.group, str(c.instances), str(c.detections), _fmt(c.ap), _fmt(c.ap50),
         _fmt(c.precision), _fmt(c.recall)]
        for c in report.per_class
        if c.instances or c.detections
    ]
    lines += _table(header, rows)
    lines += [
        "",
        f"AP: COCO bbox AP (pycocotools, 101-point interpolation, maxDets {s['max_dets']} per "
        f"image and class). Precision/recall: IoU >= 0.5, score >= {s['score_thresh']}, "
        "COCO's greedy matching.",
    ]
    return lines
