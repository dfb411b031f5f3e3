"""Training samples: native-resolution crops (or whole resized pages) with their boxes.

A sample is a pure function of ``(seed, index)``: every random draw comes from a generator
seeded with both, so the engine resumes exactly by sample index and DataLoader workers (each
with its own page cache) produce the same batches as a single process. Pages are decoded
lazily and kept in a small LRU cache, so memory stays bounded on a large dataset.

A page whose image turns out to be unreadable (truncated data the header check missed) is
counted, logged once, and replaced by another draw: a training epoch never crashes on it.
"""
from __future__ import annotations

import logging
from collections import Counter, OrderedDict
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from detector.config import Config, DataConfig
from detector.data.augment import crop_affine, draw_geometry, photometric, transform_boxes, warp_page
from detector.data.classes import resolve_classes
from detector.data.crops import AnchorSampler, choose_window, clip_to_crop
from detector.data.deepscores import (
    ImageReadError,
    PageAnnotations,
    load_deepscores,
    load_page_image,
    split_json_path,
)

log = logging.getLogger(__name__)

#: Redraws tried after an unreadable page before scanning the pages in order.
MAX_REDRAWS = 8


class PageImageCache:
    """The most recently used decoded pages, up to ``max_bytes`` (a DSv2 page is ~10 MB gray).

    The default holds ~50 DSv2 pages per process: the whole default synthetic dataset, so
    after the first epoch no page is decoded again; on full DSv2 it bounds memory instead.
    """

    def __init__(self, max_bytes: int = 512 << 20):
        self.max_bytes = max_bytes
        self._pages: OrderedDict[Path, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, path: Path) -> np.ndarray:
        """The page ``[H, W] uint8``, decoded on a miss (raises ``ImageReadError``)."""
        if path in self._pages:
            self._pages.move_to_end(path)
            return self._pages[path]
        gray = load_page_image(path)
        self._pages[path] = gray
        self._bytes += gray.nbytes
        while self._bytes > self.max_bytes and len(self._pages) > 1:  # always keep the newest
            _, old = self._pages.popitem(last=False)
            self._bytes -= old.nbytes
        return gray

    def __len__(self) -> int:
        return len(self._pages)

    def __getstate__(self) -> dict:
        # worker processes start with an empty cache instead of a pickled copy of the pages
        return {"max_bytes": self.max_bytes, "_pages": OrderedDict(), "_bytes": 0}


def _rng(*keys: int) -> np.random.Generator:
    """A generator that depends only on ``keys`` (non-negative ints)."""
    return np.random.default_rng([int(k) % (1 << 63) for k in keys])


def _to_sample(gray: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, dict]:
    """``(image [1, S, S] float in [0, 1], {"boxes": [N, 4] float, "labels": [N] long})``."""
    image = torch.from_numpy(np.array(gray, dtype=np.float32)).div_(255.0).unsqueeze(0)  # [1, S, S]
    target = {
        "boxes": torch.from_numpy(np.array(boxes, dtype=np.float32)).reshape(-1, 4),
        "labels": torch.from_numpy(np.array(labels, dtype=np.int64)),
    }
    return image, target


class _PageSamples(Dataset):
    """Shared parts: class filtering to label indices, the page cache, skipping unreadable pages."""

    def __init__(
        self, pages: Sequence[PageAnnotations], class_names: Sequence[str], data_cfg: DataConfig,
        seed: int, length: int, augment: bool, cache_mb: int,
    ):
        if not pages:
            raise ValueError("no pages to sample from (every page was skipped, or the split is empty)")
        self.class_names = tuple(class_names)
        label_of = {name: i for i, name in enumerate(self.class_names)}
        self.pages = [p.select(np.array([n in label_of for n in p.class_names], dtype=bool)) for p in pages]
        self.labels = [np.array([label_of[n] for n in p.class_names], dtype=np.int64) for p in self.pages]
        self.data_cfg = data_cfg
        self.seed = seed
        self.length = length
        self.augment = augment
        self.cache = PageImageCache(cache_mb << 20)
        self.unreadable: Counter = Counter()  # page index -> failed reads (this process)

    def __len__(self) -> int:
        return self.length

    def _page_image(self, page_index: int) -> Optional[np.ndarray]:
        """The decoded page, or None (counted, logged once) when its file cannot be read."""
        if page_index in self.unreadable:
            self.unreadable[page_index] += 1
            return None
        try:
            return self.cache.get(self.pages[page_index].path)
        except ImageReadError as err:
            self.unreadable[page_index] += 1
            log.warning("skipping unreadable page in training samples: %s", err)
            return None

    def _first_readable(self, draw: Callable[[int, int], Optional[tuple]], index: int) -> tuple:
        """``draw(index, attempt)`` until a page reads; then the pages in order; else one-line error."""
        for attempt in range(MAX_REDRAWS):
            sample = draw(index, attempt)
            if sample is not None:
                return sample
        for page_index in range(len(self.pages)):  # deterministic fallback: the first readable page
            sample = draw(index, -1 - page_index)
            if sample is not None:
                return sample
        first = self.pages[0].path
        raise ImageReadError(f"none of the {len(self.pages)} page images can be read (first: {first})")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        if not 0 <= index < self.length:
            raise IndexError(f"sample index {index} out of range [0, {self.length})")
        return self._first_readable(self._draw, index)

    def _draw(self, index: int, attempt: int) -> Optional[tuple]:
        raise NotImplementedError


class CropDataset(_PageSamples):
    """Native-resolution ``imgsz`` crops around rare-class-weighted anchors, augmented.

    Args:
        pages: loaded pages (annotations of classes outside ``class_names`` are ignored).
        class_names: label ``i`` is ``class_names[i]`` (canonical DSv2 names).
        data_cfg: ``imgsz`` (crop side), ``rare_class_boost``, ``augment``.
        seed: with the sample index, the only source of randomness.
        length: samples per epoch (crops are drawn, so any length works).
        augment: False for plain crops (no geometry or pixel changes).
        crops_per_page: consecutive indices sharing one page draw (fewer page decodes; the
            anchor distribution is unchanged).
        cache_mb: memory for decoded pages per process (least recently used dropped first).
    """

    def __init__(
        self, pages: Sequence[PageAnnotations], class_names: Sequence[str], data_cfg: DataConfig,
        seed: int = 0, length: int = 1000, augment: bool = True, crops_per_page: int = 1, cache_mb: int = 512,
    ):
        super().__init__(pages, class_names, data_cfg, seed, length, augment, cache_mb)
        self.crops_per_page = max(1, crops_per_page)
        self.sampler = AnchorSampler(self.labels, len(self.class_names), data_cfg.rare_class_boost)

    def _draw(self, index: int, attempt: int) -> Optional[tuple]:
        """One crop from the generators of ``(seed, index, attempt)``; None if the page is unreadable."""
        rng = _rng(self.seed, index, attempt, 0)
        if attempt < 0:  # fallback scan: page -1 - attempt
            page_index = -1 - attempt
        else:
            page_index = self.sampler.draw_page(_rng(self.seed, index // self.crops_per_page, attempt, 1))
        gray = self._page_image(page_index)
        if gray is None:
            return None
        page = self.pages[page_index]
        anchor = self.sampler.draw_anchor(page_index, rng)
        size = self.data_cfg.imgsz
        scale, angle = draw_geometry(rng, self.data_cfg.augment) if self.augment else (1.0, 0.0)
        window = size / scale  # page pixels that fill the crop
        anchor_box = page.boxes[anchor] if anchor is not None else None
        x0, y0 = choose_window(anchor_box, window, gray.shape[1], gray.shape[0], rng)
        page_to_crop = crop_affine((x0 + window / 2, y0 + window / 2), scale, angle, size)
        crop = warp_page(gray, page_to_crop, size)  # [S, S]
        boxes_crop, keep = clip_to_crop(transform_boxes(page.boxes, page_to_crop), size)
        if self.augment:
            crop = photometric(crop, rng, self.data_cfg.augment)
        return _to_sample(crop, boxes_crop, self.labels[page_index][keep])


class ResizeDataset(_PageSamples):
    """Whole pages resized so the long side is ``imgsz``, padded white to a square (ablation).

    Augmentation here is the small rotation and the pixel changes; no scale jitter, since the
    page already fills the square.
    """

    def __init__(
        self, pages: Sequence[PageAnnotations], class_names: Sequence[str], data_cfg: DataConfig,
        seed: int = 0, length: int = 1000, augment: bool = True, cache_mb: int = 512,
    ):
        super().__init__(pages, class_names, data_cfg, seed, length, augment, cache_mb)

    def _draw(self, index: int, attempt: int) -> Optional[tuple]:
        """One resized page from the generator of ``(seed, index, attempt)``."""
        rng = _rng(self.seed, index, attempt, 2)
        page_index = -1 - attempt if attempt < 0 else int(rng.integers(len(self.pages)))
        gray = self._page_image(page_index)
        if gray is None:
            return None
        size = self.data_cfg.imgsz
        height, width = gray.shape
        factor = size / max(height, width)
        new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
        # area averaging keeps thin staff lines and stems visible when shrinking ~4x
        small = np.asarray(Image.fromarray(gray).resize((new_w, new_h), Image.BOX), dtype=np.uint8)
        canvas = np.full((size, size), 255, dtype=np.uint8)
        canvas[:new_h, :new_w] = small
        boxes = self.pages[page_index].boxes * np.array([new_w / width, new_h / height] * 2, dtype=np.float32)
        if self.augment:
            _, angle = draw_geometry(rng, self.data_cfg.augment)
            rotate = crop_affine((size / 2, size / 2), 1.0, angle, size)
            canvas = warp_page(canvas, rotate, size)
            boxes = transform_boxes(boxes, rotate)
        boxes_crop, keep = clip_to_crop(boxes, size)
        if self.augment:
            canvas = photometric(canvas, rng, self.data_cfg.augment)
        return _to_sample(canvas, boxes_crop, self.labels[page_index][keep])


def collate_batch(samples: Sequence[tuple[torch.Tensor, dict]]) -> tuple[torch.Tensor, list[dict]]:
    """Stack images to ``[B, 1, S, S]``; targets stay a list (box counts differ per image)."""
    images = torch.stack([image for image, _ in samples])  # [B, 1, S, S]
    return images, [target for _, target in samples]


def resolve_data_root(cfg: Config) -> Path:
    """``data.root`` when given, else the synthetic default dataset (generated on first use)."""
    if cfg.data.root is not None:
        return Path(cfg.data.root)
    from detector.data.synth import ensure_synthetic_dataset  # heavy (verovio, music21): only when needed

    data = cfg.data
    # One folder per (seed, pages): configs of different sizes never regenerate each other's data.
    out_dir = Path(data.synthetic_dir) / f"s{data.synthetic_seed}-p{data.synthetic_pages}"
    return Path(ensure_synthetic_dataset(out_dir, data.synthetic_pages, data.synthetic_seed))


def build_dataset(cfg: Config, split: str, length: int) -> Dataset:
    """The training samples of ``split`` (a split name such as ``cfg.data.train_split``).

    Crop or resize by ``cfg.data.mode``; augmentation only for the training split.
    """
    class_names = resolve_classes(cfg.data.classes)
    json_path = split_json_path(resolve_data_root(cfg), split)
    pages = load_deepscores(json_path, classes=class_names).pages
    augment = split == cfg.data.train_split
    if cfg.data.mode == "resize":
        return ResizeDataset(pages, class_names, cfg.data, cfg.train.seed, length, augment=augment,
                             cache_mb=cfg.data.cache_mb)
    return CropDataset(pages, class_names, cfg.data, cfg.train.seed, length, augment=augment,
                       cache_mb=cfg.data.cache_mb)
