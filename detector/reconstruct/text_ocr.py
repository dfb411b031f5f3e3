"""Printed words and numbers of a page region, by an OCR engine (RapidOCR on ONNX Runtime).

Why this engine: it installs with pip alone (no system package such as Tesseract, which
needs root), carries its three small networks inside the wheel (nothing is fetched at run
time), runs on the CPU, and reads the small, often abbreviated Latin names of a score's
margin ("Vlns.", "Cb.") and its bar numbers. It is optional: without it (``pip install
rapidocr-onnxruntime``; not offered for Python 3.13+) part names and bar numbers are simply
not read, and the reason is given once (``ocr_unavailable_reason``).

Regions are resampled so that a staff space is ``TARGET_SPACE_PX`` pixels: margin text is
about two staff spaces tall, a size the recogniser reads well whatever the scan's resolution.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

import numpy as np
from PIL import Image

#: Staff space the OCR sees: text ~2 spaces tall becomes ~40 px, near the recogniser's 48 px input.
TARGET_SPACE_PX = 20.0
#: Lines read with less confidence than this are dropped (the engine's own default is 0.5).
MIN_CONFIDENCE = 0.6


@dataclass(frozen=True)
class TextLine:
    """One line of printed text: what it says, where (x0, y0, x1, y1 in the page), how sure."""

    text: str
    box: tuple[float, float, float, float]
    confidence: float


@lru_cache(maxsize=1)
def _engine():
    """One engine per process (loading its networks takes ~0.2 s); None when not installed."""
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        return None
    # Text in a score's margins is upright: the 180-degree classifier only costs time. Regions
    # arrive at a known scale (``TARGET_SPACE_PX``): the engine must neither blow a thin band
    # up to 736 px on its short side (its default) nor shrink a page-wide band.
    return RapidOCR(use_cls=False, intra_op_num_threads=2, inter_op_num_threads=1, max_side_len=8192,
                    det_limit_type="max", det_limit_side_len=8192)


def ocr_unavailable_reason() -> Optional[str]:
    """None when text can be read; otherwise why not (one line, with the fix)."""
    if _engine() is None:
        return ("no OCR engine installed (pip install rapidocr-onnxruntime): part names and bar numbers "
                "not read")
    return None


def read_text_lines(gray: np.ndarray, region: tuple[float, float, float, float],
                    staff_space_px: float) -> list[TextLine]:
    """The text lines inside ``region`` = (x0, y0, x1, y1) of the page ``gray`` [H, W] uint8.

    Boxes come back in page pixels. An empty list when the region is empty, holds no ink, or
    no engine is installed.
    """
    engine = _engine()
    height, width = gray.shape
    x0, y0 = max(int(region[0]), 0), max(int(region[1]), 0)
    x1, y1 = min(int(region[2]), width), min(int(region[3]), height)
    if engine is None or x1 - x0 < 4 or y1 - y0 < 4:
        return []
    crop = gray[y0:y1, x0:x1]
    if not (crop < 128).any():
        return []
    scale = TARGET_SPACE_PX / max(staff_space_px, 1.0)
    if abs(scale - 1.0) > 0.1:
        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        crop = np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR))
    else:
        scale = 1.0
    # white border: the detector finds text touching the crop's edge poorly
    pad = 16
    canvas = np.full((crop.shape[0] + 2 * pad, crop.shape[1] + 2 * pad), 255, dtype=np.uint8)
    canvas[pad:-pad, pad:-pad] = crop
    found, _ = engine(np.repeat(canvas[:, :, None], 3, axis=2))
    lines = []
    for corners, text, confidence in found or []:
        if float(confidence) < MIN_CONFIDENCE or not str(text).strip():
            continue
        points = (np.asarray(corners, dtype=float) - pad) / scale
        lines.append(TextLine(str(text).strip(),
                              (x0 + points[:, 0].min(), y0 + points[:, 1].min(),
                               x0 + points[:, 0].max(), y0 + points[:, 1].max()), float(confidence)))
    return lines
