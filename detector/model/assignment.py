"""Target assignment: which feature location learns which symbol.

Two rules, chosen by ``ModelConfig.assignment``:

- ``fcos``: FCOS centre sampling. A location is a candidate for a box when it lies within
  ``radius * stride`` of the box centre (clipped to the box) and its largest distance to the
  box's edges falls in its level's size range (``level_size_ranges``: P2 up to 32 px, then
  doubling). Small symbols go to P2, large ones (clefs, braces) to coarse levels.
- ``atss``: ATSS (Zhang et al. 2020). Per level, the ``topk`` locations nearest the box centre
  are candidates; a square "anchor" of ``anchor_scale * stride`` around each is compared by IoU
  with the box, and candidates with IoU >= mean + std (over that box's candidates) whose
  location lies inside the box are positive. The level choice adapts to each box's shape.

Both rules add one thing for music: a box that received no location at all (a 2-3 px wide
barline, a thin tie that falls between the stride-4 grid columns) gets the location nearest
its centre on its natural level. Without it such symbols are simply never trained.
A location claimed by several boxes goes to the smallest box (fcos) / the best IoU (atss):
crowded noteheads on a chord keep their own locations; a box left with none takes its centre
cell back from a neighbour that has others.

Only a window of grid cells around each box centre is examined (O(boxes), not
O(locations x boxes)), so a 1024 px crop with hundreds of symbols is assigned in milliseconds.

Measured choice (tests/experiments/norm_and_assignment.py, 2 shared CPU threads): see the
table in ``detector/model/__init__.py``.
"""
from __future__ import annotations

import math

import torch

from detector.model.geometry import encode_ltrb, elementwise_iou

INF = float("inf")


def level_size_ranges(strides: list[int]) -> list[tuple[float, float]]:
    """FCOS size range per level: the largest edge distance a location of that level regresses.

    Level with stride ``s`` takes distances up to ``8 s`` (FCOS: P3 up to 64); the first level
    starts at 0 and the last is open-ended. With P2: P2 [0, 32], P3 [32, 64], P4 [64, 128], ...
    A 12 px notehead (distance ~6) lands on P2, a 100 px G clef (distance ~50) on P3.
    """
    uppers = [8.0 * s for s in strides]
    ranges = []
    for index in range(len(strides)):
        lower = 0.0 if index == 0 else uppers[index - 1]
        upper = INF if index == len(strides) - 1 else uppers[index]
        ranges.append((lower, upper))
    return ranges


def window_cells(
    boxes: torch.Tensor, level_shapes: list[tuple[int, int]], strides: list[int], half: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The (2 half + 1)^2 grid cells around each box centre on every level.

    Returns:
        point_index [N, L, K] (index into the flattened locations; 0 where invalid),
        points [N, L, K, 2] (x, y) pixels, valid [N, L, K] (inside the feature map).
    """
    device = boxes.device
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2  # [N, 2]
    offsets = torch.arange(-half, half + 1, device=device)
    dy, dx = torch.meshgrid(offsets, offsets, indexing="ij")
    dx, dy = dx.reshape(-1), dy.reshape(-1)  # [K]
    indices, points, valids = [], [], []
    level_start = 0
    for (height, width), stride in zip(level_shapes, strides):
        col = torch.floor(centres[:, 0:1] / stride).long() + dx  # [N, K]
        row = torch.floor(centres[:, 1:2] / stride).long() + dy
        valid = (col >= 0) & (col < width) & (row >= 0) & (row < height)
        index = level_start + row.clamp(0, height - 1) * width + col.clamp(0, width - 1)
        xy = torch.stack([(col.float() + 0.5) * stride, (row.float() + 0.5) * stride], dim=-1)
        indices.append(index)
        points.append(xy)
        valids.append(valid)
        level_start += height * width
    return torch.stack(indices, 1), torch.stack(points, 1), torch.stack(valids, 1)


def resolve_conflicts(
    num_points: int, point_index: torch.Tensor, box_index: torch.Tensor, cost: torch.Tensor
) -> torch.Tensor:
    """Give each location to its lowest-cost candidate box, deterministically.

    Args:
        point_index, box_index, cost: [M] positive (location, box) pairs and their costs.
    Returns:
        matched [num_points] long: box index per location, -1 for background.
    """
    matched = torch.full((num_points,), -1, dtype=torch.long, device=point_index.device)
    if point_index.numel() == 0:
        return matched
    order = torch.argsort(cost, stable=True)  # rank 0 = best pair overall
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=order.device)
    best_rank = torch.full((num_points,), order.numel(), dtype=torch.long, device=order.device)
    best_rank = best_rank.scatter_reduce(0, point_index, rank, reduce="amin")
    winners = rank == best_rank[point_index]
    matched[point_index[winners]] = box_index[winners]
    return matched


def add_fallback(matched: torch.Tensor, point_index: torch.Tensor, fit_level: torch.Tensor) -> torch.Tensor:
    """Give every box without a location the cell nearest its centre on level ``fit_level``.

    The cell is taken from its owner only if the owner keeps another location, so a notehead
    shadowed by a smaller one (or a hair-thin line between grid columns) is still learnt.

    Args:
        matched [P]; point_index [N, L, K] from ``window_cells`` (cell K // 2 is the centre);
        fit_level [N] the box's natural level.
    """
    num_boxes = point_index.shape[0]
    counts = torch.bincount(matched[matched >= 0], minlength=num_boxes)
    for box in torch.nonzero(counts == 0).flatten().tolist():
        centre_cell = int(point_index[box, fit_level[box], point_index.shape[2] // 2])
        owner = int(matched[centre_cell])
        if owner < 0 or counts[owner] > 1:
            if owner >= 0:
                counts[owner] -= 1
            matched[centre_cell] = box
            counts[box] = 1
    return matched


@torch.no_grad()
def assign_fcos(
    boxes: torch.Tensor,
    level_shapes: list[tuple[int, int]],
    strides: list[int],
    radius: float = 1.5,
) -> torch.Tensor:
    """FCOS centre sampling with per-level size ranges.

    Args:
        boxes: [N, 4] xyxy input pixels, positive width and height.
        level_shapes: (H, W) of each level's map, finest first; strides: their strides.
        radius: centre-sampling radius in strides.
    Returns:
        matched [P] long: box index per location, -1 = background.
    """
    num_points = sum(h * w for h, w in level_shapes)
    if boxes.numel() == 0:
        return torch.full((num_points,), -1, dtype=torch.long, device=boxes.device)
    half = int(math.ceil(radius)) + 1
    point_index, points, valid = window_cells(boxes, level_shapes, strides, half)  # [N, L, K]
    boxes_b = boxes[:, None, None, :].expand(*points.shape[:3], 4)
    ltrb = encode_ltrb(points, boxes_b)  # [N, L, K, 4]
    stride_t = torch.tensor(strides, dtype=boxes.dtype, device=boxes.device)[None, :, None]  # [1, L, 1]
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2  # [N, 2]
    reach = radius * stride_t  # [1, L, 1]
    in_centre = (
        ((points[..., 0] - centres[:, None, None, 0]).abs() < reach)
        & ((points[..., 1] - centres[:, None, None, 1]).abs() < reach)
        & (ltrb.min(dim=-1).values > 0)  # centre region is clipped to the box
    )
    ranges = torch.tensor(level_size_ranges(strides), dtype=boxes.dtype, device=boxes.device)  # [L, 2]
    max_distance = ltrb.max(dim=-1).values  # [N, L, K]
    in_range = (max_distance >= ranges[None, :, None, 0]) & (max_distance <= ranges[None, :, None, 1])
    positive = valid & in_centre & in_range
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])  # [N]
    box_of = torch.arange(len(boxes), device=boxes.device)[:, None, None].expand_as(positive)
    cost = area[:, None, None].expand_as(positive)
    matched = resolve_conflicts(num_points, point_index[positive], box_of[positive], cost[positive])
    half_extent = torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / 2  # [N]
    fit_level = ((half_extent[:, None] > ranges[None, :, 1]).sum(dim=1)).clamp(max=len(strides) - 1)
    return add_fallback(matched, point_index, fit_level)


@torch.no_grad()
def assign_atss(
    boxes: torch.Tensor,
    level_shapes: list[tuple[int, int]],
    strides: list[int],
    topk: int = 9,
    anchor_scale: float = 4.0,
) -> torch.Tensor:
    """ATSS adaptive assignment (IoU threshold = mean + std of each box's candidates).

    ``anchor_scale`` 4 (not RetinaNet's 8) makes the P2 "anchor" 16 px: the size of a DSv2
    notehead, so IoUs discriminate between levels for 10-25 px symbols.

    Args / Returns: as ``assign_fcos``; ``topk`` candidates per level.
    """
    num_points = sum(h * w for h, w in level_shapes)
    if boxes.numel() == 0:
        return torch.full((num_points,), -1, dtype=torch.long, device=boxes.device)
    half = int(math.ceil(math.sqrt(topk))) // 2 + 1
    point_index, points, valid = window_cells(boxes, level_shapes, strides, half)  # [N, L, K]
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    distance = (points - centres[:, None, None, :]).norm(dim=-1).masked_fill(~valid, INF)  # [N, L, K]
    k = min(topk, distance.shape[2])
    nearest = distance.topk(k, dim=2, largest=False).indices  # [N, L, k]
    cand_index = point_index.gather(2, nearest)
    cand_points = points.gather(2, nearest[..., None].expand(-1, -1, -1, 2))  # [N, L, k, 2]
    cand_valid = valid.gather(2, nearest)
    stride_t = torch.tensor(strides, dtype=boxes.dtype, device=boxes.device)[None, :, None, None]
    half_side = anchor_scale * stride_t / 2
    anchors = torch.cat([cand_points - half_side, cand_points + half_side], dim=-1)  # [N, L, k, 4]
    iou = elementwise_iou(anchors, boxes[:, None, None, :].expand_as(anchors))  # [N, L, k]
    iou_valid = iou.masked_fill(~cand_valid, float("nan")).flatten(1)  # [N, L*k]
    mean = iou_valid.nanmean(dim=1)
    std = torch.sqrt(((iou_valid - mean[:, None]) ** 2).nanmean(dim=1))
    threshold = (mean + std)[:, None, None]
    inside = encode_ltrb(cand_points, boxes[:, None, None, :].expand_as(anchors)).min(dim=-1).values > 0
    positive = cand_valid & (iou >= threshold) & inside
    box_of = torch.arange(len(boxes), device=boxes.device)[:, None, None].expand_as(positive)
    matched = resolve_conflicts(num_points, cand_index[positive], box_of[positive], -iou[positive])
    fit_level = iou.masked_fill(~cand_valid, -1.0).amax(dim=2).argmax(dim=1)  # [N]
    return add_fallback(matched, point_index, fit_level)
