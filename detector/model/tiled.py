"""Full-page inference by overlapping tiles at native resolution.

A DSv2 page is about 2700 x 3800 px; shrinking it to fit a network would make 12 px
noteheads 4 px. Instead the page is cut into ``tile_size`` squares overlapping by
``tile_overlap`` and each tile is detected on its own, so memory is bounded by
``tiles_per_batch`` tiles, whatever the page size.

Where the grid sits: it is anchored to the ink, not to the image corner. The first tile
starts half an overlap before the first dark pixel (``INK_LEVEL``) on each axis, and tiles
that hold no ink are not run. Pixels outside the image read as white paper. So the same
page pasted anywhere on a larger white sheet gives every tile exactly the same pixels, and
the same detections, shifted (a GroupNorm network is not translation invariant: a symbol's
scores depend on the whole tile it is seen in, so a grid fixed to the image corner read a
shifted page differently). Skipping blank tiles (margins, the gaps between systems) is also
the cheapest speed-up.

Merging: each tile keeps only the detections whose box centre lies in its *core* (the tile
minus half the overlap on every side that borders another tile). The cores partition the
page, so each symbol is reported by exactly one tile, and that tile sees the symbol whole
when the symbol is no larger than the overlap. ``tile_overlap`` must therefore cover the
largest compact symbol at the largest staff size the model serves (a G clef is about 7.5
staff spaces tall: 260 px at 34 px spaces, the synthetic data's 28 px times its 1.2 scale
augmentation). Longer symbols (slurs, hairpins, braces) may be cut by a tile edge. A final
class-aware NMS removes what duplicates remain (and, if configured, a class-agnostic one
keeps one class per box), and the best ``max_detections`` are kept.
"""
from __future__ import annotations

import numpy as np
import torch

from detector.config import ModelConfig
from detector.model.decode import suppress_duplicates
from detector.model.precision import inference_autocast, resolve_precision

#: A pixel darker than this (uint8 gray) is ink: it anchors the tile grid and makes a tile worth
#: running. Half-way between paper and ink, so scanner noise and faint paper tint do not count.
INK_LEVEL = 128


def tile_starts(low: int, high: int, tile: int, overlap: int) -> tuple[list[int], int]:
    """Tiles covering the ink span ``[low, high)`` plus half an overlap of margin on each side:
    ``(starts, size)``. As few tiles as ``tile`` allows, each shrunk to cover the span exactly
    (less paper run through the network); all relative to ``low``, so the grid moves with the ink.
    """
    margin = overlap // 2
    span = high - low + 2 * margin
    if span <= tile:
        return [low - margin], span
    count = -(-(span - overlap) // (tile - overlap))  # ceil division
    size = -(-(span - overlap) // count) + overlap
    return [low - margin + k * (size - overlap) for k in range(count)], size


def core_bounds(start: int, size: int, overlap: int, first: bool, last: bool) -> tuple[float, float]:
    """The part of a tile ``[start, start+size)`` this tile is responsible for (page pixels)."""
    low = -float("inf") if first else start + overlap / 2
    high = float("inf") if last else start + size - overlap / 2
    return low, high


def page_to_tensor(page: np.ndarray) -> torch.Tensor:
    """uint8 [H, W] gray page (ink 0) -> float [1, H, W] in [0, 1]."""
    if not isinstance(page, np.ndarray) or page.ndim != 2:
        shape = getattr(page, "shape", None)
        raise ValueError(f"a page must be a gray np.ndarray [H, W] uint8, got shape {shape}")
    scale = 255.0 if page.dtype == np.uint8 else 1.0
    return torch.from_numpy(page.astype(np.float32)).div_(scale)[None]  # a copy: pages may be read-only


def ink_mask(page: np.ndarray) -> np.ndarray:
    """[H, W] bool: the page's ink pixels (uint8 pages, or float pages in [0, 1])."""
    level = INK_LEVEL if page.dtype == np.uint8 else INK_LEVEL / 255.0
    return page < level


def tile_windows(ink: np.ndarray, tile: int,
                 overlap: int) -> tuple[list[tuple[int, int]], int, int, list[int], list[int]]:
    """The tiles worth running on a page with ink mask ``ink`` [H, W].

    Returns ``(windows, tile_h, tile_w, ys, xs)``: the (y, x) starts of the tiles that hold
    ink, the tile height and width (at most the tile side), and every start of the grid on each
    axis (the first and last decide which cores are open).
    """
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if rows.size == 0:
        return [], 0, 0, [], []
    ys, tile_h = tile_starts(int(rows[0]), int(rows[-1]) + 1, tile, overlap)
    xs, tile_w = tile_starts(int(cols[0]), int(cols[-1]) + 1, tile, overlap)
    # ink per tile from a summed-area table: O(page) once instead of O(tile area) per tile
    table = np.zeros((ink.shape[0] + 1, ink.shape[1] + 1), dtype=np.int64)
    table[1:, 1:] = ink.cumsum(axis=0, dtype=np.int64).cumsum(axis=1)

    def ink_in(y: int, x: int) -> bool:
        ya, yb = np.clip([y, y + tile_h], 0, ink.shape[0])
        xa, xb = np.clip([x, x + tile_w], 0, ink.shape[1])
        return table[yb, xb] - table[ya, xb] - table[yb, xa] + table[ya, xa] > 0

    windows = [(y, x) for y in ys for x in xs if ink_in(y, x)]
    return windows, tile_h, tile_w, ys, xs


def cut_tile(image: torch.Tensor, y: int, x: int, tile_h: int, tile_w: int) -> torch.Tensor:
    """``image`` [1, H, W] cut at ``[y, y+tile_h) x [x, x+tile_w)``, white outside the page."""
    out = torch.ones(1, tile_h, tile_w)
    height, width = image.shape[-2:]
    ya, yb, xa, xb = max(y, 0), min(y + tile_h, height), max(x, 0), min(x + tile_w, width)
    if ya < yb and xa < xb:
        out[:, ya - y : yb - y, xa - x : xb - x] = image[:, ya:yb, xa:xb]
    return out


@torch.inference_mode()
def detect_page(
    model: torch.nn.Module, page: np.ndarray, model_cfg: ModelConfig, device: torch.device | str,
    tiles_per_batch: int = 4, progress: bool = False, precision: str = "fp32",
) -> dict[str, np.ndarray]:
    """Detect one page by tiles; returns numpy ``boxes [K, 4]``, ``scores [K]``, ``labels [K]``.

    ``precision``: a resolved ``"fp32"`` or ``"bf16"`` (``precision.resolve_precision``).
    """
    image = page_to_tensor(page)  # [1, H, W]
    tile, overlap = model_cfg.tile_size, model_cfg.tile_overlap
    windows, tile_h, tile_w, ys, xs = tile_windows(ink_mask(page), tile, overlap)
    boxes_all = [torch.zeros(0, 4)]
    scores_all = [torch.zeros(0)]
    labels_all = [torch.zeros(0, dtype=torch.int64)]
    bar = None
    if progress and windows:
        from tqdm import tqdm

        bar = tqdm(total=len(windows), desc="detecting", unit="tile", leave=False)
    for first in range(0, len(windows), tiles_per_batch):
        chunk = windows[first : first + tiles_per_batch]
        batch = torch.stack([cut_tile(image, y, x, tile_h, tile_w) for y, x in chunk])  # [B, 1, h, w]
        batch = batch.to(device).contiguous(memory_format=torch.channels_last)
        with inference_autocast(precision, device):
            found_in_chunk = model(batch)
        for (y, x), found in zip(chunk, found_in_chunk):
            y_low, y_high = core_bounds(y, tile_h, overlap, y == ys[0], y == ys[-1])
            x_low, x_high = core_bounds(x, tile_w, overlap, x == xs[0], x == xs[-1])
            boxes = found["boxes"].float().cpu() + torch.tensor([x, y, x, y], dtype=torch.float32)
            centre_x = (boxes[:, 0] + boxes[:, 2]) / 2
            centre_y = (boxes[:, 1] + boxes[:, 3]) / 2
            keep = (centre_x >= x_low) & (centre_x < x_high) & (centre_y >= y_low) & (centre_y < y_high)
            boxes_all.append(boxes[keep])
            scores_all.append(found["scores"].float().cpu()[keep])
            labels_all.append(found["labels"].cpu()[keep])
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    boxes, scores, labels = torch.cat(boxes_all), torch.cat(scores_all), torch.cat(labels_all)
    height, width = page.shape
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, width)  # tiles may reach past the page's edge
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, height)
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
    progress: bool = False,
    precision: str = "fp32",
) -> list[dict[str, np.ndarray]]:
    """Detect symbols on whole pages of any size (CPU or CUDA).

    Args:
        model: a ``SymbolDetector`` (already on ``device``); put in eval mode and channels-last
            memory format for the call (2-3x faster convolutions on CPU, same numbers) and
            restored to its previous mode and format afterwards.
        pages: gray ``np.ndarray [H, W] uint8`` pages (ink 0, paper 255).
        model_cfg: tile size, overlap, NMS threshold and detection cap.
        tiles_per_batch: tiles run together; memory grows with it, not with the page.
        progress: show a tile progress bar (tqdm, on stderr) per page.
        precision: ``"fp32"``, ``"bf16"`` or ``"auto"`` (bf16 where the hardware runs it fast:
            ``precision.py``); raises ValueError for bf16 on a CUDA device without it.
    Returns:
        one dict per page: ``boxes [K, 4]`` float32 page pixels, ``scores [K]``, ``labels [K]`` int64.
    """
    precision = resolve_precision(precision, device)
    was_training = model.training
    was_channels_last = _is_channels_last(model)
    model.eval()
    model.to(memory_format=torch.channels_last)
    try:
        return [detect_page(model, page, model_cfg, device, tiles_per_batch, progress, precision)
                for page in pages]
    finally:
        if not was_channels_last:
            model.to(memory_format=torch.contiguous_format)
        model.train(was_training)


def _is_channels_last(model: torch.nn.Module) -> bool:
    """Whether the model's first 4-d weight is stored channels-last."""
    weight = next((p for p in model.parameters() if p.ndim == 4), None)
    return weight is not None and weight.is_contiguous(memory_format=torch.channels_last) \
        and not weight.is_contiguous()
