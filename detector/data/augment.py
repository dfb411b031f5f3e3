"""Scan-like augmentation of score crops: one affine warp for geometry, then pixel noise.

Geometry (small rotation, scale jitter) is a single page -> crop affine map applied to the
page image and to the boxes alike, so the boxes follow the ink. Photometric changes (blur,
contrast, noise, binarisation, JPEG) only touch pixels. Every random number comes from the
``rng`` passed in, so a sample is a pure function of its seed.
"""
from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from detector.config import AugmentConfig


def draw_geometry(rng: np.random.Generator, aug: AugmentConfig) -> tuple[float, float]:
    """Draw ``(scale, angle_deg)``: scale in [1-j, 1+j], angle in [-r, r]."""
    scale = float(rng.uniform(1.0 - aug.scale_jitter, 1.0 + aug.scale_jitter))
    angle_deg = float(rng.uniform(-aug.rotation_deg, aug.rotation_deg))
    return scale, angle_deg


def crop_affine(center_xy: tuple[float, float], scale: float, angle_deg: float, out_size: int) -> np.ndarray:
    """Page -> crop map ``[3, 3]``: page point ``center_xy`` lands on the crop centre.

    ``out = S/2 + scale * R(angle) @ (page - center)``; coordinates are continuous pixel
    coordinates (pixel i covers [i, i+1)), the same as the boxes.
    """
    theta = math.radians(angle_deg)
    cos, sin = scale * math.cos(theta), scale * math.sin(theta)
    cx, cy = center_xy
    half = out_size / 2.0
    return np.array([
        [cos, -sin, half - cos * cx + sin * cy],
        [sin, cos, half - sin * cx - cos * cy],
        [0.0, 0.0, 1.0],
    ])


def warp_page(page: np.ndarray, page_to_out: np.ndarray, out_size: int) -> np.ndarray:
    """Resample ``page`` [H, W] uint8 through the affine map into ``[S, S]`` uint8, white outside.

    PIL evaluates only the output pixels, so the cost is that of the crop, not of the page.
    """
    out_to_page = np.linalg.inv(page_to_out)
    coeffs = tuple(out_to_page[:2].ravel().tolist())
    a, b, c, d, e, f = coeffs
    identity_like = max(abs(a - 1), abs(b), abs(d), abs(e - 1), abs(c - round(c)), abs(f - round(f))) < 1e-9
    resample = Image.NEAREST if identity_like else Image.BILINEAR  # integer shifts: an exact copy
    image = Image.fromarray(page)
    warped = image.transform((out_size, out_size), Image.AFFINE, coeffs, resample=resample, fillcolor=255)
    return np.asarray(warped, dtype=np.uint8)


def transform_boxes(boxes: np.ndarray, page_to_out: np.ndarray) -> np.ndarray:
    """Map boxes ``[N, 4]`` through the affine and take the axis-aligned envelope of the corners.

    For the small angles used here (|angle| <= ~2 deg) the envelope grows by at most
    ``w * sin(angle)`` in height: under a pixel for noteheads, more for long slurs.
    """
    if len(boxes) == 0:
        return np.zeros((0, 4), dtype=np.float32)
    x0, y0, x1, y1 = boxes.T.astype(np.float64)
    corners = np.stack([np.stack([x, y]) for x, y in ((x0, y0), (x1, y0), (x0, y1), (x1, y1))])  # [4, 2, N]
    mapped = np.einsum("ij,kjn->kin", page_to_out[:2, :2], corners)  # [4, 2, N]
    mapped += page_to_out[:2, 2][None, :, None]
    xs, ys = mapped[:, 0], mapped[:, 1]  # [4, N] each
    out = np.stack([xs.min(0), ys.min(0), xs.max(0), ys.max(0)], axis=1)
    return out.astype(np.float32)


def photometric(crop: np.ndarray, rng: np.random.Generator, aug: AugmentConfig) -> np.ndarray:
    """Scanner-like degradations of a ``[S, S]`` uint8 crop, each with its own probability."""
    pixels = crop.astype(np.float32)
    if rng.random() < aug.contrast_prob:  # grey paper, faded ink
        ink, paper = rng.uniform(0.0, 90.0), rng.uniform(170.0, 255.0)
        pixels = ink + (paper - ink) * pixels / 255.0
    if rng.random() < aug.blur_prob:
        pixels = gaussian_filter(pixels, sigma=rng.uniform(0.3, 1.2))
    if rng.random() < aug.noise_prob:
        sigma = rng.uniform(0.01, 0.08) * 255.0
        pixels = pixels + rng.normal(0.0, sigma, size=pixels.shape).astype(np.float32)
    if rng.random() < aug.binarize_prob:  # fax-like: the threshold moves stroke thickness a little
        low, high = float(pixels.min()), float(pixels.max())
        threshold = low + (high - low) * rng.uniform(0.4, 0.6)
        pixels = np.where(pixels < threshold, 0.0, 255.0)
    out = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    if rng.random() < aug.jpeg_prob:
        out = _jpeg_roundtrip(out, int(rng.integers(30, 91)))
    return out


def _jpeg_roundtrip(gray: np.ndarray, quality: int) -> np.ndarray:
    """Compress and decompress with JPEG at ``quality`` (block artefacts around strokes)."""
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as img:
        return np.asarray(img.convert("L"), dtype=np.uint8)
