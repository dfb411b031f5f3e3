"""evaluation stage: COCO metrics (pycocotools), reports and pictures.

Files: groups.py (class -> user group), coco_eval.py (``evaluate_detections``), report.py
(``EvalReport``: report.json / report.md), matching.py (greedy matching for pictures),
plots.py (PR curves, confusion matrix, overlays), inference.py (``evaluate_model``: tiled
inference + metrics + TensorBoard), run.py (``run_evaluation``, what eval.py calls).
"""
from detector.evaluation.coco_eval import DetectionsError, evaluate_detections
from detector.evaluation.groups import GROUPS, class_group
from detector.evaluation.report import EvalReport

__all__ = ["evaluate_detections", "DetectionsError", "EvalReport", "GROUPS", "class_group"]
