"""Turn a score page image into MusicXML: `python reconstruct.py PAGE.png --out score.musicxml`.

Arguments only; the work is ``detector.reconstruct.pipeline.reconstruct_page`` (one image) or
``detector.reconstruct.score_book.run_command`` (PDFs, folders, several pages). Exit status:
0 done, 1 a page of a whole score failed and was skipped (the rest written), 2 a user mistake
(missing or unreadable page, detections or checkpoint, unwritable output, unavailable device:
one line on stderr).
"""
from __future__ import annotations

import argparse
import inspect
import os
import re
import sys
import time
from pathlib import Path
from typing import Callable

from detector.cli_args import OneLineArgumentParser

#: Shown in --help without importing torch (detector.model.model_io.DEFAULT_WEIGHTS).
DEFAULT_WEIGHTS_TEXT = "weights/default.pt"


def build_parser() -> argparse.ArgumentParser:
    """reconstruct.py's arguments (``--help`` answers before torch is imported)."""
    parser = OneLineArgumentParser(
        prog="reconstruct.py",
        description="Recognise the music on a score page (detection, staff lines, stems, ledger "
                    "lines, beams, barlines, pitches and rhythm) and write it as MusicXML 4.0. "
                    "Exit status: 0 done, 1 a page of a whole score failed and was skipped (the rest "
                    "written), 2 a bad input or output (one line on stderr).")
    parser.add_argument("page", nargs="+",
                        help="the page image (PNG, JPEG or TIFF, any mode; transparency is composited on "
                             "white); or a PDF, a folder of page images, or several of these: read in order "
                             "into ONE score (parts continue across pages; see --out-dir for one per input)")
    parser.add_argument("--weights", default=None, metavar="CKPT",
                        help=f"detector checkpoint to detect symbols with (default: {DEFAULT_WEIGHTS_TEXT})")
    parser.add_argument("--detections", default=None, metavar="DETS.json",
                        help="use these symbols instead of running the detector: a COCO results list "
                             "(DSv2 category ids) or a DSv2 annotation file holding this page")
    parser.add_argument("--out", default=None, metavar="score.musicxml", help="MusicXML 4.0 file to write")
    parser.add_argument("--out-dir", default=None, metavar="DIR",
                        help="instead of --out: one score per input (a PDF, a folder or an image), written "
                             "as DIR/<input name>.musicxml; an existing one is kept unless --force")
    parser.add_argument("--force", action="store_true",
                        help="with --out-dir: read again the inputs whose result exists")
    parser.add_argument("--midi", action="store_true",
                        help="also write MIDI beside each MusicXML (.mid; music21 converts the MusicXML)")
    parser.add_argument("--overlay", default=None, metavar="out.png",
                        help="also write the page with staves, barlines, stems and each note's pitch drawn "
                             "on it")
    parser.add_argument("--json", default=None, metavar="symbols.json",
                        help="also write every symbol (detected and rebuilt) and the recognised notes as "
                             "JSON")
    parser.add_argument("--html", default=None, metavar="report.html",
                        help="also write a self-contained HTML report: each system of the scan with its "
                             "detections above the same system engraved from the recognised music, doubtful "
                             "bars marked on both (one page image for now)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="where the detector runs (default: auto: cuda when available)")
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"),
                        help="number format of the detector: bf16 is about 2x faster on CPUs with AMX and on "
                             "Ampere+ GPUs, same notes on the pages measured (default: auto: bf16 there, "
                             "fp32 elsewhere)")
    return parser


#: What each stage does, printed when it starts (the pipeline prints a line when a stage ends).
STAGE_STARTS = {
    "image": "reading the page image",
    "deskew": "levelling the staves",
    "symbols": "finding the symbols",
    "structure": "finding staff lines, stems, ledger lines, beams and barlines",
    "music": "reading pitches, rhythm and measures",
    "text": "reading part names and bar numbers from the margins (OCR)",
    "output": "writing the outputs",
}
STAGE_ORDER = list(STAGE_STARTS)


def stage_logger(detect_text: str, write: Callable[[str], None] = print) -> Callable[[str], None]:
    """A ``log`` callback for the pipeline that also announces the next stage as one ends.

    The pipeline's lines look like ``[  symbols]  12.31 s  ...``; after a stage's line, the
    next stage's start line is printed (``[structure] ...``), so a slow stage never runs in
    silence. Lines of unknown stages pass through unchanged.
    """
    starts = dict(STAGE_STARTS, symbols=detect_text)

    def log(line: str) -> None:
        write(line)
        match = re.match(r"\[\s*(\w+)\]", line)
        if match and match.group(1) in STAGE_ORDER:
            following = STAGE_ORDER.index(match.group(1)) + 1
            if following < len(STAGE_ORDER):
                name = STAGE_ORDER[following]
                write(f"[{name:>9}] ...     {starts[name]}")
    return log


def choose_device(device: str) -> str:
    """Check ``--device`` and, for ``cpu``, hide CUDA from torch so the pipeline stays on the CPU.

    Must run before torch is imported in this process (it is: imports happen after parsing).
    """
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        return device
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda asked for, but no CUDA device is available (use cpu or auto)")
    return device


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, check inputs and outputs, reconstruct; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if bool(args.out) == bool(args.out_dir):
        parser.error("give --out FILE (one score) or --out-dir DIR (one score per input)")
    try:
        choose_device(args.device)
    except RuntimeError as err:
        print(f"reconstruct.py: error: {err}", file=sys.stderr)
        return 2
    from detector.data.deepscores import ImageReadError
    from detector.model.model_io import CheckpointError
    from detector.reconstruct.pipeline import ReconstructError, reconstruct_page
    from detector.writable import NotWritableError, check_writable_file

    if args.detections and Path(args.detections).is_file():
        from detector.data.detections_file import DetectionsFileError, read_detections_file

        try:  # a malformed file is named in one line here, before any stage indexes into it
            read_detections_file(args.detections)
        except DetectionsFileError as err:
            print(f"reconstruct.py: error: {err}", file=sys.stderr)
            return 2
    if len(args.page) > 1 or args.out_dir or args.midi or Path(args.page[0]).is_dir() \
            or args.page[0].lower().endswith(".pdf"):
        return whole_scores(args)  # detector/reconstruct/score_book.py
    args.page = args.page[0]
    detect_text = (f"reading symbols from {args.detections}" if args.detections else
                   f"detecting symbols with {args.weights or DEFAULT_WEIGHTS_TEXT} (tiled; 3-10 s a page "
                   f"on a recent 2-core CPU, up to a minute on older ones)")
    options = {}
    for name in ("device", "precision"):  # test stand-ins of reconstruct_page may take neither
        if name in inspect.signature(reconstruct_page).parameters:
            options[name] = getattr(args, name)
    started = time.perf_counter()
    try:
        for output in (args.out, args.overlay, args.json, args.html):
            if output:  # before the slow stages: an unwritable place fails at once
                check_writable_file(output)
        print(f"[{'image':>9}] ...     {STAGE_STARTS['image']} {args.page}", flush=True)
        result = reconstruct_page(args.page, weights=args.weights, detections=args.detections,
                                  out_xml=args.out, overlay_png=args.overlay, symbols_json=args.json,
                                  log=stage_logger(detect_text, lambda line: print(line, flush=True)),
                                  **options)
        if args.html:  # detector/reconstruct/report_html.py
            from detector.reconstruct.report_html import report_page, write_html_report

            write_html_report([report_page(args.page, result)], args.html, title=f"Recognised: {args.page}")
    except (ReconstructError, ImageReadError, CheckpointError, NotWritableError, FileNotFoundError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        print(f"reconstruct.py: error: {message}", file=sys.stderr)
        return 2
    print(f"done in {time.perf_counter() - started:.1f} s: {args.out}", flush=True)
    return 0


def whole_scores(args: argparse.Namespace) -> int:
    """PDFs, folders, several pages: ``score_book.run_command`` (exit 0, 1 some page failed, 2)."""
    from detector.reconstruct.page_sources import InputError
    from detector.reconstruct.pipeline import ReconstructError
    from detector.reconstruct.score_book import run_command

    if args.overlay or args.json:
        print("reconstruct.py: error: --overlay and --json are for one page image", file=sys.stderr)
        return 2
    if args.html and args.out_dir:
        print("reconstruct.py: error: --html writes one report for one score: use it with --out, "
              "not --out-dir", file=sys.stderr)
        return 2
    try:
        return run_command(args.page, args.out, args.out_dir, force=args.force, weights=args.weights,
                           detections=args.detections, midi=args.midi, html=args.html, device=args.device,
                           precision=args.precision)
    except (ReconstructError, InputError, OSError) as err:
        print(f"reconstruct.py: error: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
