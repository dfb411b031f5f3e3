"""Duplicate suppression on hand-made boxes: class-aware NMS, then the optional one-class-per-box pass."""
from __future__ import annotations

import torch

from detector.model.decode import suppress_duplicates

# Box 0 and 1: the same notehead with two labels; box 2: a shifted copy of box 0 (IoU 0.6);
# box 3: a notehead elsewhere.
BOXES = torch.tensor([[100, 100, 120, 116], [100, 100, 120, 116], [104, 100, 124, 116], [300, 100, 320, 116]],
                     dtype=torch.float32)
SCORES = torch.tensor([0.9, 0.4, 0.8, 0.7])
LABELS = torch.tensor([0, 1, 0, 0])


def test_class_aware_nms_keeps_a_second_label_on_the_same_box():
    keep = suppress_duplicates(BOXES, SCORES, LABELS, nms_thresh=0.5, cross_class_nms_thresh=None, max_detections=10)
    # box 2 (same class, IoU 0.67 with box 0) goes; box 1 (other class) stays
    assert keep.tolist() == [0, 3, 1]


def test_cross_class_pass_keeps_one_label_per_box_and_respects_max_detections():
    keep = suppress_duplicates(BOXES, SCORES, LABELS, nms_thresh=0.5, cross_class_nms_thresh=0.7, max_detections=10)
    assert keep.tolist() == [0, 3]
    keep = suppress_duplicates(BOXES, SCORES, LABELS, nms_thresh=0.5, cross_class_nms_thresh=0.7, max_detections=1)
    assert keep.tolist() == [0]


def test_nothing_in_nothing_out():
    empty = torch.zeros(0, 4)
    keep = suppress_duplicates(empty, torch.zeros(0), torch.zeros(0, dtype=torch.long), 0.5, 0.7, 10)
    assert keep.numel() == 0
