"""Rasterise a Verovio SVG page with resvg-py into a DSv2-like RGBA PNG.

No background is given, so the PNG is transparent where there is no ink, exactly as DSv2
ships its pages (readers composite on white). Text is set in the project's own TTFs
(textfonts.py); the machine's fonts are skipped so a seed gives the same pixels anywhere.
"""
from __future__ import annotations

import io

import numpy as np
import resvg_py
from PIL import Image

from detector.data.synth.textfonts import font_files


def rasterize(svg: str, width_px: int, height_px: int) -> tuple[bytes, np.ndarray]:
    """Render ``svg`` at ``width_px`` x ``height_px``.

    Returns:
        The PNG bytes (RGBA, transparent background) and the alpha channel
        ``np.ndarray [H, W] uint8`` (the ink coverage, 0 = no ink).
    """
    png = resvg_py.svg_to_bytes(svg_string=svg, width=width_px, height=height_px, skip_system_fonts=True,
                                font_files=font_files())
    png = bytes(png)
    with Image.open(io.BytesIO(png)) as image:
        alpha = np.asarray(image.getchannel("A"))
    return png, alpha
