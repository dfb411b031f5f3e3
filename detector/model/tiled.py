"""Full-page inference by overlapping tiles at native resolution.

A DSv2 page is about 2700 x 3800 px; shrinking it to fit a network would make 12 px
noteheads 4 px. Instead the page is cut into ``tile_size`` squares overlapping by
``tile_overlap`` and each tile is detected on its own, so memory is bounded by
``tiles_per_batch`` tiles, whatever the page size.

Merging: each tile keeps only the detections whose box centre lies in its *core* (the tile
minus half the overlap on every side that borders another tile). The cores partition the page,
so each symbol is reported by exactly one tile, and that tile sees the symbol whole as long as
the symbol's half-size is below half the overlap (64 px at the default 128). A final
class-aware NMS removes what duplicates remain (and, if configured, a class-agnostic one keeps
one class per box), and the best ``max_detections`` are kept.
"""
from __future__ import annotations

import numpy as np
import torch

from detector.config import ModelConfig
from detector.model.decode import suppress_duplicates


def tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles covering ``[0, length)``; the last tile ends at the border."""
    if length <= tile:
        return [0]
    step = tile - overlap
    starts = list(range(0, length - tile, step))
    return starts + [length - tile]


def core_bounds(start: int, size: int, length: int, overlap: int, first: bool, last: bool) -> tuple[float, float]:
    """The part of a tile ``[start, start+size)`` this tile is responsible for (page pixels)."""
    low = float(start) if first else start + overlap / 2
    high = float(length) if last else start + size - overlap / 2
    return low, high


def page_to_tensor(page: np.ndarray) -> torch.Tensor:
    """uint8 [H, W] gray page (ink 0) -> float [1, H, W] in [0, 1]."""
    if not isinstance(page, np.ndarray) or page.ndim != 2:
        shape = getattr(page, "shape", None)
        raise ValueError(f"a page must be a gray np.ndarray [H, W] uint8, got shape {shape}")
    scale = 255.0 if page.dtype == np.uint8 else 1.0
    return torch.from_numpy(page.astype(np.float32)).div_(scale)[None]  # a copy: pages may be read-only


@torch.inference_mode()
def detect_page(
    model: torch.nn.Module, page: np.ndarray, model_cfg: ModelConfig, device: torch.device | str, tiles_per_batch: int = 4
) -> dict[str, np.ndarray]:
    """Detect one page by tiles; returns numpy ``boxes [K, 4]``, ``scores [K]``, ``labels [K]``."""
    image = page_to_tensor(page)  # [1, H, W]
    height, width = image.shape[-2:]
    tile, overlap = model_cfg.tile_size, model_cfg.tile_overlap
    ys, xs = tile_starts(height, tile, overlap), tile_starts(width, tile, overlap)
    windows = [(y, x) for y in ys for x in xs]
    boxes_all, scores_all, labels_all = [], [], []
    for first in range(0, len(windows), tiles_per_batch):
        chunk = windows[first : first + tiles_per_batch]
        crops = [image[:, y : y + tile, x : x + tile] for y, x in chunk]
        batch = torch.ones(len(crops), 1, min(tile, height), min(tile, width))  # white padding
        for index, crop in enumerate(crops):
            batch[index, :, : crop.shape[1], : crop.shape[2]] = crop
        for (y, x), found in zip(chunk, model(batch.to(device))):
            tile_h, tile_w = min(tile, height), min(tile, width)
            y_low, y_high = core_bounds(y, tile_h, height, overlap, y == ys[0], y == ys[-1])
            x_low, x_high = core_bounds(x, tile_w, width, overlap, x == xs[0], x == xs[-1])
            boxes = found["boxes"].float().cpu() + torch.tensor([x, y, x, y], dtype=torch.float32)
            centre_x = (boxes[:, 0] + boxes[:, 2]) / 2
            centre_y = (boxes[:, 1] + boxes[:, 3]) / 2
            keep = (centre_x >= x_low) & (centre_x < x_high) & (centre_y >= y_low) & (centre_y < y_high)
            boxes_all.append(boxes[keep])
            scores_all.append(found["scores"].float().cpu()[keep])
            labels_all.append(found["labels"].cpu()[keep])
    boxes, scores, labels = torch.cat(boxes_all), torch.cat(scores_all), torch.cat(labels_all)
    keep = suppress_duplicates(boxes, scores, labels, model_cfg.nms_thresh, model_cfg.cross_class_nms_thresh,
                               model_cfg.max_detections)
    return {
        "boxes": boxes[keep].numpy(),
        "scores": scores[keep].numpy(),
        "labels": labels[keep].numpy().astype(np.int64),
    }


def detect_pages(
    model: torch.nn.Module,
    pages: list[np.ndarray],
    model_cfg: ModelConfig,
    device: torch.device | str = "cpu",
    tiles_per_batch: int = 4,
) -> list[dict[str, np.ndarray]]:
    """Detect symbols on whole pages of any size (CPU or CUDA).

    Args:
        model: a ``SymbolDetector`` (already on ``device``); put in eval mode for the call and
            restored to its previous mode afterwards.
        pages: gray ``np.ndarray [H, W] uint8`` pages (ink 0, paper 255).
        model_cfg: tile size, overlap, NMS threshold and detection cap.
        tiles_per_batch: tiles run together; memory grows with it, not with the page.
    Returns:
        one dict per page: ``boxes [K, 4]`` float32 page pixels, ``scores [K]``, ``labels [K]`` int64.
    """
    was_training = model.training
    model.eval()
    try:
        return [detect_page(model, page, model_cfg, device, tiles_per_batch) for page in pages]
    finally:
        model.train(was_training)
