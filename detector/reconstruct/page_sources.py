"""Where a score's pages come from: PDF files, page images, folders of images, in order.

`expand_inputs` turns the command line's inputs into a list of `PageSource`, one per page,
each loading its page only when asked (a 20-page PDF is never held in memory at once). A PDF
page is rendered with pypdfium2 (PDFium, installed from PyPI with its own binary) at a
resolution chosen from the page itself: rendered at `BASE_DPI`, its staff space measured,
and rendered again at the dpi that puts the staff space at `TARGET_STAFF_SPACE_PX` when it
is outside the detector's range (a scanned PDF's raster is resampled the same way).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from detector.data.deepscores import load_page_image
from detector.reconstruct.page_scale import TARGET_STAFF_SPACE_PX, choose_factor, measure_staff_space

#: Suffixes read as page images; anything else in a folder is ignored.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")
#: First rendering of a PDF page: enough to measure a staff space (printed music at 150 dpi
#: has a staff space of 10-14 px), cheap enough to throw away.
BASE_DPI = 150.0
#: Bounds of the chosen resolution (a page without staves stays at BASE_DPI).
MIN_DPI, MAX_DPI = 72.0, 1200.0


class InputError(ValueError):
    """An input that is not a PDF, an image or a folder holding images (one line)."""


@dataclass
class PageSource:
    """One page of the input: a name for messages and outputs, and how to load it."""

    name: str  # "score.pdf#3" or the image's file name
    path: Path  # the file it comes from
    load: Callable[[], np.ndarray]  # -> [H, W] uint8 gray page, ink dark


def natural_key(path: Path) -> list:
    """Sort key that puts page-2 before page-10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def render_pdf_page(pdf_path: Path, index: int, target: float = TARGET_STAFF_SPACE_PX) -> np.ndarray:
    """Page ``index`` (0-based) of a PDF as a gray page whose staff space is in the detector's
    range (rendered at BASE_DPI, measured, rendered again at the dpi that fits)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        page = pdf[index]
        gray = _render(page, BASE_DPI)
        factor = choose_factor(measure_staff_space(gray), target)
        if factor != 1.0:
            gray = _render(page, min(MAX_DPI, max(MIN_DPI, BASE_DPI * factor)))
        page.close()
    finally:
        pdf.close()
    return gray


def _render(page, dpi: float) -> np.ndarray:
    """The page rendered in gray at ``dpi`` (PDF units are 1/72 inch)."""
    bitmap = page.render(scale=dpi / 72.0, grayscale=True)
    image = bitmap.to_pil().convert("L")
    return np.asarray(image).copy()


def pdf_page_count(pdf_path: Path) -> int:
    """Pages in a PDF (an unreadable one is an InputError)."""
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(pdf_path))
    except pdfium.PdfiumError as err:
        raise InputError(f"cannot read PDF {pdf_path}: {err}") from None
    try:
        return len(pdf)
    finally:
        pdf.close()


def pages_of(path: Path) -> list[PageSource]:
    """The pages of one input: every page of a PDF, the images of a folder (natural order),
    or the image itself."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if path.is_dir():
        images = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        if not images:
            raise InputError(f"{path} holds no page images ({', '.join(IMAGE_SUFFIXES)})")
        return [source for image in images for source in pages_of(image)]
    if path.suffix.lower() == ".pdf":
        return [PageSource(f"{path.name}#{k + 1}", path, _pdf_loader(path, k))
                for k in range(pdf_page_count(path))]
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return [PageSource(path.name, path, lambda: load_page_image(path))]
    raise InputError(f"{path}: not a PDF, a page image ({', '.join(IMAGE_SUFFIXES)}) or a folder")


def _pdf_loader(path: Path, index: int) -> Callable[[], np.ndarray]:
    return lambda: render_pdf_page(path, index)


def expand_inputs(paths: Sequence[str | Path]) -> list[PageSource]:
    """Every page of the inputs, in the order given (a score's pages)."""
    return [source for path in paths for source in pages_of(Path(path))]
