"""Consecutive pages of ONE piece, in one layout: the synthetic input of whole-score reading.

The dataset generator (``generate.py``) draws a new piece and layout for every page and keeps
one of its first pages; reading a whole score needs page 1, 2, 3, ... of the same piece, as a
book or a PDF holds them. `generate_piece_pages` engraves a corpus piece once and writes its
pages in order, in the dataset's layout (``images/``, ``deepscores_test.json``, ``music/``),
so every reader of the dataset (``--detections``, the benchmarks) reads them too. No text is
added (titles and lyrics are the dataset's business; here the music is what is measured).

    python -m detector.data.synth.piece_pages --piece bach/bwv66.6 --out DIR --pages 3
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional

import numpy as np

from detector.data.synth.corpus import Piece, _corpus_root
from detector.data.synth.dynamics import split_combined_dynamics
from detector.data.synth.engrave import PageLayout, engrave, make_toolkit
from detector.data.synth.generate import _write_splits
from detector.data.synth.page import SVG_STAFF_SPACE, GeneratedPage, _assemble
from detector.data.synth.boxes import parse_svg
from detector.data.synth.rasterize import rasterize


def corpus_piece(name: str) -> Piece:
    """A music21 corpus piece by its path (``beethoven/opus18no1/movement1``, suffix optional)."""
    from music21 import corpus

    found = corpus.getWork(name)
    paths = [Path(str(p)) for p in (found if isinstance(found, list) else [found])]
    path = next((p for p in paths if p.suffix == ".mxl"), paths[0])  # MusicXML before Humdrum
    return Piece(key=f"corpus/{path.relative_to(_corpus_root()).as_posix()}", path=path)


def fixed_layout(staff_space_px: float = 22.0, width_px: int = 2480, font: str = "Leipzig") -> PageLayout:
    """An A4-like layout with the given staff space (the dataset's margins and spacings)."""
    return PageLayout(font=font, staff_space_px=staff_space_px, width_px=width_px,
                      margins=(100, 100, 100, 100), spacing_staff=10, spacing_system=12, id_seed=1)


def generate_piece_pages(out_dir: Path, piece: Piece, layout: PageLayout, pages: Optional[int] = None,
                         index0: int = 0) -> list[GeneratedPage]:
    """Engrave ``piece`` and write its first ``pages`` pages (all when None) into ``out_dir``.

    Page files are named ``<piece>--page-K.png`` (K from 1); every page goes to the test split.
    """
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "music").mkdir(exist_ok=True)
    toolkit = make_toolkit()
    count = engrave(toolkit, piece, layout)
    count = count if pages is None else min(pages, count)
    name = piece.key.split("/", 1)[-1].rsplit(".", 1)[0].replace("/", "-")
    done = []
    for page_no in range(1, count + 1):
        svg = split_combined_dynamics(toolkit.renderToSVG(page_no), layout.font)
        svg_page = parse_svg(svg, layout.font, SVG_STAFF_SPACE)
        mei = toolkit.getMEI({"pageNo": page_no})
        png, alpha = rasterize(svg, layout.width_px, layout.height_px)
        page = _assemble(index0 + page_no - 1, piece, layout, f"{name}--page-{page_no}", png, alpha,
                         svg_page, mei)
        (out_dir / "images" / page.filename).write_bytes(page.png)
        (out_dir / "music" / f"{Path(page.filename).stem}.mei").write_text(page.mei)
        page.png = b""
        done.append(page)
    _write_splits(out_dir, done, {piece.key})
    return done


def write_pdf(images: list[Path], path: Path, dpi: float = 300.0) -> Path:
    """The page images as one raster PDF (as a scanner writes it), ``dpi`` pixels per inch."""
    from PIL import Image

    from detector.data.deepscores import load_page_image

    frames = [Image.fromarray(np.asarray(load_page_image(p))) for p in images]
    frames[0].save(path, "PDF", save_all=True, append_images=frames[1:], resolution=dpi)
    return Path(path)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.data.synth.piece_pages",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--piece", required=True,
                        help="music21 corpus path, e.g. beethoven/opus18no1/movement1")
    parser.add_argument("--out", required=True, help="dataset folder to write")
    parser.add_argument("--pages", type=int, default=None, help="first N pages only (default: all)")
    parser.add_argument("--staff-space", type=float, default=22.0, help="staff space of the pages, px")
    parser.add_argument("--pdf", default=None, help="also write the pages as one raster PDF here")
    args = parser.parse_args(argv)
    done = generate_piece_pages(Path(args.out), corpus_piece(args.piece), fixed_layout(args.staff_space),
                                args.pages)
    print(f"{len(done)} page(s) of {args.piece} in {args.out}")
    if args.pdf:
        write_pdf([Path(args.out) / "images" / p.filename for p in done], Path(args.pdf))
        print(f"PDF: {args.pdf}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
