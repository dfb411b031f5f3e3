"""Pages the structure tests share, each computed once per test session (lru_cache).

The real DSv2 sample page, a copy turned by 1.5 degrees, and synthetic pages, each with its
ground-truth symbols and its reconstruction from the ground-truth noteheads.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from detector.data.deepscores import PageAnnotations, load_deepscores, load_page_image, split_json_path
from detector.reconstruct.deskew import rotate_page
from detector.benchmarks.box_matching import MatchScore, match_boxes
from detector.reconstruct.structure import StructureResult, reconstruct_structure
from detector.reconstruct.symbols import Symbol, symbols_from_page

REAL_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "deepscores_v2_sample"
REAL_JSON = REAL_DIR / "deepscores_v2_sample.json"


@lru_cache(maxsize=None)
def real_page() -> tuple[PageAnnotations, np.ndarray]:
    """The real sample page's annotations and its gray image."""
    page = load_deepscores(REAL_JSON).pages[0]
    return page, load_page_image(page.path)


@lru_cache(maxsize=None)
def real_result() -> StructureResult:
    """The real page reconstructed from its ground-truth noteheads."""
    page, gray = real_page()
    return reconstruct_structure(gray, symbols_from_page(page))


@lru_cache(maxsize=None)
def rotated_real(degrees: float = 1.5) -> tuple[np.ndarray, np.ndarray, list[str], StructureResult]:
    """The real page turned by ``degrees``: gray, ground-truth boxes, names, reconstruction."""
    page, gray = real_page()
    turned, boxes = rotate_page(gray, page.boxes, degrees)
    symbols = [Symbol(n, tuple(b), 1.0, a) for n, b, a in zip(page.class_names, boxes.tolist(), page.ann_ids)]
    return turned, boxes, page.class_names, reconstruct_structure(turned, symbols)


@lru_cache(maxsize=None)
def synthetic_results(root: Path, max_pages: int = 4) -> tuple[tuple[PageAnnotations, StructureResult], ...]:
    """The first ``max_pages`` synthetic pages (test split first) reconstructed from their noteheads."""
    pages = [p for split in ("test", "train") for p in load_deepscores(split_json_path(root, split)).pages]
    return tuple(
        (page, reconstruct_structure(load_page_image(page.path), symbols_from_page(page)))
        for page in pages[:max_pages]
    )


def score(result: StructureResult, gt_boxes: np.ndarray, gt_names: list[str], class_name: str) -> MatchScore:
    """Rebuilt ``class_name`` boxes against the ground truth at IoU >= 0.5."""
    predicted = np.array([s.box for s in result.rebuilt(class_name)]).reshape(-1, 4)
    return match_boxes(predicted, gt_boxes[np.array(gt_names) == class_name], 0.5)


def synthetic_total(root: Path, class_name: str) -> MatchScore:
    """Rebuilt ``class_name`` boxes against the ground truth, summed over ``synthetic_results``."""
    matches = [score(result, page.boxes, page.class_names, class_name) for page, result in synthetic_results(root)]
    return sum(matches[1:], matches[0])
