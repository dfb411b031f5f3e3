"""Deskew: turn a page back so that its staff lines are horizontal before it is read.

Staff detection follows a skewed staff, but the steps after it look along straight columns:
the line that joins a system's staves at their left end, barlines, stems. On a page turned
by 2 degrees the left end of a staff 2,500 px wide has moved 87 px, and the systems fall
apart (every staff became a system of its own: 6 parts x 10 bars read as 1 part x 60).
The skew is measured from the staves the staff detector already finds; a page turned by
more than ``MIN_SKEW_DEGREES`` is rotated back about its centre (paper-white corners), and
boxes given in the page's own frame (``--detections``) are turned with it.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
from PIL import Image

from detector.reconstruct.staff import Staff, detect_staves

#: Skew below this is left alone: staff detection and reading follow it (measured: a page at
#: 0.5 degrees reads as the straight page), and every rotation blurs the ink a little.
MIN_SKEW_DEGREES = 0.3


def page_skew_degrees(staves: Sequence[Staff]) -> Optional[float]:
    """The page's skew: the median angle of its staves' middle lines, in degrees, positive when
    the lines fall to the right (y grows with x). None without staves."""
    angles = [np.degrees(np.arctan2(s.line_ys[2][-1] - s.line_ys[2][0], s.xs[-1] - s.xs[0]))
              for s in staves if len(s.xs) >= 2 and s.xs[-1] > s.xs[0]]
    return float(np.median(angles)) if angles else None


def rotate_page(gray: np.ndarray, boxes: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The page turned ``degrees`` counter-clockwise about its centre, and its boxes' new extents.

    gray: [H, W] uint8; boxes: [N, 4] page boxes -> ([H, W] uint8, [N, 4]: the bounds of each
    box's turned corners).
    """
    height, width = gray.shape
    turned = np.asarray(Image.fromarray(gray).rotate(degrees, resample=Image.BILINEAR, fillcolor=255))
    theta = np.deg2rad(degrees)
    cx, cy = width / 2.0, height / 2.0
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    xs = boxes[:, [0, 2, 2, 0]] - cx  # [N, 4] corners
    ys = boxes[:, [1, 1, 3, 3]] - cy
    rx = cx + xs * np.cos(theta) + ys * np.sin(theta)
    ry = cy - xs * np.sin(theta) + ys * np.cos(theta)
    return turned, np.stack([rx.min(1), ry.min(1), rx.max(1), ry.max(1)], axis=1)


def turn_boxes_keeping_size(boxes: np.ndarray, degrees: float, shape: tuple[int, int]) -> np.ndarray:
    """Boxes moved with a page turned ``degrees`` about its centre, each keeping its size.

    A symbol's upright box on a turned page is not the bounds of its old corners (which grow
    by the box's width times the angle's sine); at a few degrees its centre moves and its size
    stays. boxes: [N, 4] -> [N, 4].
    """
    height, width = shape
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    theta = np.deg2rad(degrees)
    cx, cy = width / 2.0, height / 2.0
    bx, by = (boxes[:, 0] + boxes[:, 2]) / 2.0 - cx, (boxes[:, 1] + boxes[:, 3]) / 2.0 - cy
    nx = cx + bx * np.cos(theta) + by * np.sin(theta)
    ny = cy - bx * np.sin(theta) + by * np.cos(theta)
    half_w, half_h = (boxes[:, 2] - boxes[:, 0]) / 2.0, (boxes[:, 3] - boxes[:, 1]) / 2.0
    return np.stack([nx - half_w, ny - half_h, nx + half_w, ny + half_h], axis=1)


def deskew_page(gray: np.ndarray) -> tuple[np.ndarray, float]:
    """The page turned so its staves are level, and the angle it was turned by (degrees,
    counter-clockwise; 0.0 when the page was level enough or has no staves)."""
    skew = page_skew_degrees(detect_staves(gray).staves)
    if skew is None or abs(skew) < MIN_SKEW_DEGREES:
        return gray, 0.0
    # lines falling to the right (positive skew) are level again after a counter-clockwise turn
    turned, _ = rotate_page(gray, np.zeros((0, 4)), skew)
    return turned, skew
