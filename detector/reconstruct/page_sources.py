"""Where a score's pages come from: PDF files, page images, folders of images, in order.

`expand_inputs` turns the command line's inputs into a list of `PageSource`, one per page,
each loading its page only when asked (a 20-page PDF is never held in memory at once). A PDF
page is rendered with pypdfium2 (PDFium, installed from PyPI with its own binary) at a
resolution chosen from the page itself: rendered `BASE_WIDTH_PX` wide (an A4 page at 300 dpi),
its staff space measured, and rendered again at the scale that puts the staff space at
`TARGET_STAFF_SPACE_PX` when it is outside the detector's range (the raster of a scanned PDF
is resampled by PDFium the same way).
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
#: Width of the first rendering of a PDF page, whatever its size in inches: an A4 page at
#: 300 dpi, where printed music has a staff space of 15-25 px (measured to +-1 px), whereas
#: at a fixed dpi a small page (a part printed on A5, a PDF made at 600 dpi) would come out
#: with a staff space too small to measure.
BASE_WIDTH_PX = 2480
#: Bounds of the final width (a page without staves stays at BASE_WIDTH_PX).
MIN_WIDTH_PX, MAX_WIDTH_PX = 600, 12000


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
    range (rendered BASE_WIDTH_PX wide, measured, rendered again at the scale that fits)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        page = pdf[index]
        scale = BASE_WIDTH_PX / page.get_width()  # pixels per PDF unit (1/72 inch)
        gray = _render(page, scale)
        factor = choose_factor(measure_staff_space(gray), target)
        if factor != 1.0:
            width = min(MAX_WIDTH_PX, max(MIN_WIDTH_PX, BASE_WIDTH_PX * factor))
            gray = _render(page, width / page.get_width())
        page.close()
    finally:
        pdf.close()
    return gray


def _render(page, scale: float) -> np.ndarray:
    """The page rendered in gray, ``scale`` pixels per PDF unit (1/72 inch: 72 dpi = 1)."""
    bitmap = page.render(scale=scale, grayscale=True)
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
