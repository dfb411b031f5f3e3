"""Page binarisation: ink mask from a gray page (Otsu; Sauvola for unevenly lit scans).

Everything downstream (run lengths, projections, stem and ledger runs) reads this mask,
and the gray image itself where sub-pixel coverage is measured.
"""
from __future__ import annotations

from typing import Literal

import numpy as np
from skimage.filters import threshold_otsu, threshold_sauvola

#: A page whose gray values span less than this is blank paper (Otsu would split noise).
MIN_CONTRAST = 40
#: Otsu leaving more than this share of the page dark means the lighting is uneven.
MAX_GLOBAL_INK_FRACTION = 0.25


def binarize(gray: np.ndarray, method: Literal["auto", "otsu", "sauvola"] = "auto") -> np.ndarray:
    """Ink mask ``[H, W] bool`` (True = ink) of a ``[H, W] uint8`` page, ink dark.

    ``auto`` uses Otsu's global threshold and switches to Sauvola's local one when the global
    threshold paints a large share of the page black (shadows, yellowed paper).
    """
    gray = np.asarray(gray)
    if gray.ndim != 2 or gray.size == 0:
        raise ValueError(f"expected a [H, W] gray page, got shape {gray.shape}")
    sample = gray[:: max(1, gray.shape[0] // 512), :: max(1, gray.shape[1] // 512)]
    low, high = np.percentile(sample, [0.1, 99.9])
    if high - low < MIN_CONTRAST:
        return np.zeros(gray.shape, dtype=bool)
    if method in ("auto", "otsu"):
        # the threshold from every 4th pixel of every 4th row: same histogram, 16x cheaper;
        # skimage's convention is "above the threshold = bright", so ink is at or below it (a
        # two-level page, ink 0 and paper 255, has its threshold at 0)
        ink = gray <= threshold_otsu(gray[::4, ::4])
        if method == "otsu" or ink.mean() <= MAX_GLOBAL_INK_FRACTION:
            return ink
    return gray < threshold_sauvola(gray, window_size=51, k=0.2)


def coverage(gray: np.ndarray) -> np.ndarray:
    """Ink coverage ``[H, W] float32`` in [0, 1] (0 = paper, 1 = full ink): anti-aliasing as area."""
    return (255.0 - np.asarray(gray, dtype=np.float32)) / 255.0
