"""Any scan resolution: measure a page's staff space and resample the page into the detector's range.

The shipped detector was trained on pages whose staff space is 18-28 px (the synthetic
generator draws it there; DSv2 pages are alike). A page scanned at 150 dpi has a staff space
near 10 px and one at 600 dpi near 40 px: outside that range noteheads are smaller or larger
than anything the detector saw. `normalise_page` rescales such a page so that its staff space
becomes `TARGET_STAFF_SPACE_PX`; a page already in the range is left as it is (same pixels,
same result as before). `PageScale` maps boxes between the page's pixels and the work frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
from PIL import Image

from detector.reconstruct.binarize import binarize
from detector.reconstruct.staff import estimate_line_metrics
from detector.reconstruct.symbols import Symbol

#: Staff spaces (px) the detector was trained on (detector/data/synth/engrave.py draws 18-28).
TRAINED_STAFF_SPACE_PX = (18.0, 28.0)
#: Where a page outside that range is brought: inside it with a margin on both sides for the
#: estimate's error (the run-length mode is an integer, +-1 px at 10 px is 10 %).
TARGET_STAFF_SPACE_PX = 22.0


@dataclass(frozen=True)
class PageScale:
    """How the work frame relates to the page: work px = page px * factor."""

    factor: float = 1.0
    staff_space_px: Optional[float] = None  # measured on the page as given (None: not found)

    def to_work(self, box) -> tuple[float, float, float, float]:
        """A page-pixel box [x0, y0, x1, y1] in work pixels."""
        return tuple(float(v) * self.factor for v in box)

    def to_page(self, box) -> tuple[float, float, float, float]:
        """A work-pixel box [x0, y0, x1, y1] in page pixels."""
        return tuple(float(v) / self.factor for v in box)


def measure_staff_space(gray: np.ndarray) -> Optional[float]:
    """The page's staff space in px (line distance: white run + line thickness), None when the
    page shows no staff-like regularity (a blank page, a text page)."""
    _, space, _ = estimate_line_metrics(binarize(gray))
    return space


def choose_factor(staff_space_px: Optional[float], target: float = TARGET_STAFF_SPACE_PX,
                  trained: tuple[float, float] = TRAINED_STAFF_SPACE_PX) -> float:
    """1 for a page in the trained range (or with no staff found), else target / staff space."""
    if staff_space_px is None or trained[0] <= staff_space_px <= trained[1]:
        return 1.0
    return target / staff_space_px


def resample(gray: np.ndarray, factor: float) -> np.ndarray:
    """The page scaled by ``factor`` (Lanczos up, area-averaging box filter down)."""
    if factor == 1.0:
        return gray
    h, w = gray.shape
    size = (max(1, int(round(w * factor))), max(1, int(round(h * factor))))
    method = Image.Resampling.LANCZOS if factor > 1 else Image.Resampling.BOX
    return np.asarray(Image.fromarray(gray).resize(size, method))


def normalise_page(gray: np.ndarray) -> tuple[np.ndarray, PageScale]:
    """The page in the detector's staff-space range and the scale that got it there."""
    space = measure_staff_space(gray)
    scale = PageScale(choose_factor(space), space)
    return resample(gray, scale.factor), scale


def symbols_to_work(symbols: list[Symbol], scale: PageScale) -> list[Symbol]:
    """Symbols with page-pixel boxes moved into the work frame."""
    if scale.factor == 1.0:
        return symbols
    return [Symbol(s.class_name, scale.to_work(s.box), s.score, s.id) for s in symbols]


def symbols_to_page(symbols: list[Symbol], scale: PageScale) -> list[Symbol]:
    """Symbols with work-frame boxes mapped back to page pixels."""
    if scale.factor == 1.0:
        return symbols
    return [Symbol(s.class_name, scale.to_page(s.box), s.score, s.id) for s in symbols]
