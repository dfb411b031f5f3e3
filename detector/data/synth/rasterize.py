"""Rasterise a Verovio SVG page with resvg-py into a DSv2-like RGBA PNG.

No background is given, so the PNG is transparent where there is no ink, exactly as DSv2
ships its pages (readers composite on white).
"""
from __future__ import annotations

import io

import numpy as np
import resvg_py
from PIL import Image


def rasterize(svg: str, width_px: int, height_px: int) -> tuple[bytes, np.ndarray]:
    """Render ``svg`` at ``width_px`` x ``height_px``.

    Returns:
        The PNG bytes (RGBA, transparent background) and the alpha channel
        ``np.ndarray [H, W] uint8`` (the ink coverage, 0 = no ink).
    """
    png = bytes(resvg_py.svg_to_bytes(svg_string=svg, width=width_px, height=height_px))
    with Image.open(io.BytesIO(png)) as image:
        alpha = np.asarray(image.getchannel("A"))
    return png, alpha
