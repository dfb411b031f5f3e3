"""Locations of the feature maps and the box <-> distance (``ltrb``) coding.

A location of level ``l`` (stride ``s``), row ``i``, column ``j`` sits at the centre of the
input cell it summarises: ``((j + 0.5) * s, (i + 0.5) * s)`` in input pixels. Locations are
flattened level by level, row-major, the same order the head flattens its maps in.
"""
from __future__ import annotations

import torch


def make_points(
    level_shapes: list[tuple[int, int]], strides: list[int], device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """All locations of all levels.

    Returns:
        points [P, 2] (x, y) in input pixels and point_strides [P] (float), finest level first.
    """
    points, point_strides = [], []
    for (height, width), stride in zip(level_shapes, strides):
        ys = (torch.arange(height, device=device, dtype=torch.float32) + 0.5) * stride
        xs = (torch.arange(width, device=device, dtype=torch.float32) + 0.5) * stride
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1))  # [H*W, 2]
        point_strides.append(torch.full((height * width,), float(stride), device=device))
    return torch.cat(points), torch.cat(point_strides)


def encode_ltrb(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Distances from ``points`` [..., 2] to the edges of ``boxes`` [..., 4] -> [..., 4] (l, t, r, b)."""
    return torch.stack(
        [
            points[..., 0] - boxes[..., 0],
            points[..., 1] - boxes[..., 1],
            boxes[..., 2] - points[..., 0],
            boxes[..., 3] - points[..., 1],
        ],
        dim=-1,
    )


def decode_ltrb(points: torch.Tensor, ltrb: torch.Tensor) -> torch.Tensor:
    """Inverse of ``encode_ltrb``: ``points`` [..., 2] + ``ltrb`` [..., 4] -> boxes [..., 4] xyxy."""
    return torch.stack(
        [
            points[..., 0] - ltrb[..., 0],
            points[..., 1] - ltrb[..., 1],
            points[..., 0] + ltrb[..., 2],
            points[..., 1] + ltrb[..., 3],
        ],
        dim=-1,
    )


def centerness_target(ltrb: torch.Tensor) -> torch.Tensor:
    """FCOS centerness ``sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b))`` of ``ltrb`` [..., 4] -> [...].

    Distances are clamped at 0 first: a location just outside a hair-thin box (the fallback
    of the assignment) gets centerness 0 rather than a NaN.
    """
    ltrb = ltrb.clamp(min=0)
    left_right = ltrb[..., [0, 2]]
    top_bottom = ltrb[..., [1, 3]]
    ratio_x = left_right.min(dim=-1).values / left_right.max(dim=-1).values.clamp(min=1e-6)
    ratio_y = top_bottom.min(dim=-1).values / top_bottom.max(dim=-1).values.clamp(min=1e-6)
    return torch.sqrt(ratio_x * ratio_y)


def elementwise_iou(boxes_a: torch.Tensor, boxes_b: torch.Tensor) -> torch.Tensor:
    """IoU of ``boxes_a[i]`` with ``boxes_b[i]`` (same shape [..., 4]) -> [...].

    ``torchvision.ops.box_iou`` is pairwise (N x M); assignment needs matched pairs only.
    """
    top_left = torch.maximum(boxes_a[..., :2], boxes_b[..., :2])
    bottom_right = torch.minimum(boxes_a[..., 2:], boxes_b[..., 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(dim=-1)
    area_a = (boxes_a[..., 2:] - boxes_a[..., :2]).prod(dim=-1)
    area_b = (boxes_b[..., 2:] - boxes_b[..., :2]).prod(dim=-1)
    return inter / (area_a + area_b - inter).clamp(min=1e-6)
