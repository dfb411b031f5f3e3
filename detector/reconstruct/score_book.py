"""PDFs, folders and lists of page images -> whole scores (MusicXML, optionally MIDI).

`reconstruct_score` is the one call behind ``reconstruct.py score.pdf --out score.musicxml``
(and a list of images, or a folder): every page is read in order (`whole_score.read_page`,
one page in memory at a time) under a progress bar that prints each page's time; a page
that fails is reported and skipped, the others are still assembled (`assemble_score`) and
written. `reconstruct_batch` (``--out-dir``) makes one score per input and leaves an existing
result alone unless ``force``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from tqdm import tqdm

from detector.model.model_io import DEFAULT_WEIGHTS
from detector.reconstruct.musicxml import write_musicxml
from detector.reconstruct.page_sources import InputError, PageSource, expand_inputs
from detector.reconstruct.pipeline import ReconstructError, missing_weights_message, read_detections
from detector.reconstruct.whole_score import PageMusic, assemble_score, read_page


@dataclass
class ScoreRun:
    """What one whole-score run did."""

    out_xml: Path
    pages: int = 0  # pages in the input
    read: int = 0  # pages read into the score
    failed: list[tuple[str, str]] = field(default_factory=list)  # (page, one-line reason)
    midi: Optional[Path] = None
    skipped: bool = False  # the result was already there (no --force)
    seconds: float = 0.0
    parts: int = 0
    measures: int = 0


def _say(line: str) -> None:
    tqdm.write(line)  # above the progress bar, never inside it


def _one_line(err: BaseException) -> str:
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text}"[:200]


def _read(source: PageSource, weights: Optional[Path], detections: Optional[Path],
          on_page: Optional[Callable] = None, device: Optional[str] = None,
          precision: str = "auto") -> PageMusic:
    gray = source.load()
    symbols = read_detections(detections, source.path) if detections is not None else None
    on_result = None if on_page is None else (lambda work, result: on_page(source.name, work, result))
    return read_page(gray, symbols, weights, name=source.name, on_result=on_result, device=device,
                     precision=precision)


def reconstruct_score(inputs: Sequence[str | Path], out_xml: str | Path, weights: Optional[str | Path] = None,
                      detections: Optional[str | Path] = None, midi: bool = False, progress: bool = True,
                      say: Callable[[str], None] = _say, on_page: Optional[Callable] = None,
                      device: Optional[str] = None, precision: str = "auto") -> ScoreRun:
    """Read every page of ``inputs`` (PDFs, images, folders; in order) into ONE score.

    Args:
        out_xml: the MusicXML 4.0 file to write (MIDI beside it, ``.mid``, when ``midi``).
        weights: detector checkpoint (default ``DEFAULT_WEIGHTS``) unless ``detections``.
        detections: a DSv2 file holding the pages (by image file name) or, for one page, a
            COCO results list: symbols instead of the detector.
        on_page: called as ``on_page(name, gray, PageResult)`` with each page as read (the
            HTML report builds its section there, so no page's pixels outlive its reading).
        device / precision: where and in which number format the detector runs (``detect_symbols``).

    Raises:
        ReconstructError / InputError: nothing could be read (no input, no page read).
    """
    started = time.perf_counter()
    out_xml = Path(out_xml)
    weights = Path(weights) if weights else None
    detections = Path(detections) if detections else None
    if detections is None and not (weights or DEFAULT_WEIGHTS).exists():
        raise ReconstructError(missing_weights_message(weights or DEFAULT_WEIGHTS))
    if detections is not None and not detections.exists():
        raise ReconstructError(f"no such detections file: {detections}")
    sources = expand_inputs(inputs)
    run = ScoreRun(out_xml, pages=len(sources))
    pages: list[PageMusic] = []
    for source in tqdm(sources, desc=out_xml.name, unit="page", disable=not progress, leave=False):
        t = time.perf_counter()
        try:
            page = _read(source, weights, detections, on_page, device, precision)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:  # noqa: BLE001 - one bad page must not lose the others
            run.failed.append((source.name, _one_line(err)))
            say(f"[page] {source.name}: FAILED after {time.perf_counter() - t:.1f} s, skipped "
                f"({_one_line(err)})")
            continue
        staves = sum(len(g) for system in page.systems for g in system)
        scale = "" if page.scale.factor == 1.0 else (f", staff space {page.scale.staff_space_px:.0f} px "
                                                     f"resampled x{page.scale.factor:.2f}")
        say(f"[page] {source.name}: {page.seconds:.1f} s, {len(page.systems)} systems, "
            f"{staves} staves{scale}")
        pages.append(page)
    run.read = len(pages)
    if not pages:
        raise ReconstructError(f"no page of {', '.join(map(str, inputs))} could be read "
                               f"({run.failed[0][1] if run.failed else 'no pages'})")
    score = assemble_score(pages)
    out_xml.parent.mkdir(parents=True, exist_ok=True)
    write_musicxml(score, out_xml, title=Path(str(inputs[0])).stem)
    if midi:
        run.midi = write_midi(out_xml, out_xml.with_suffix(".mid"))
    run.parts = len(score.parts)
    run.measures = max((len(p.measure_rows()) for p in score.parts), default=0)
    run.seconds = time.perf_counter() - started
    return run


def write_midi(xml_path: Path, midi_path: Path) -> Path:
    """MIDI from the written MusicXML (music21 reads it back and writes the file)."""
    from music21 import converter

    converter.parse(str(xml_path)).write("midi", fp=str(midi_path))
    return midi_path


def reconstruct_batch(inputs: Sequence[str | Path], out_dir: str | Path, force: bool = False,
                      say: Callable[[str], None] = _say, **options) -> list[ScoreRun]:
    """One score per input (a PDF, a folder of page images or one image) into ``out_dir``
    (``<input stem>.musicxml``); an existing result is skipped unless ``force``, an input that
    cannot be read at all is reported and the next one is read. ``options``: see
    `reconstruct_score`."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs = []
    for n, path in enumerate(inputs, start=1):
        out_xml = out_dir / f"{Path(path).stem}.musicxml"
        if out_xml.exists() and not force:
            say(f"[{n}/{len(inputs)}] {path}: {out_xml} exists, skipped (--force to read it again)")
            runs.append(ScoreRun(out_xml, skipped=True))
            continue
        say(f"[{n}/{len(inputs)}] {path} -> {out_xml}")
        try:
            run = reconstruct_score([path], out_xml, say=say, **options)
        except (ReconstructError, InputError) as err:
            say(f"[{n}/{len(inputs)}] {path}: FAILED, nothing written ({_one_line(err)})")
            runs.append(ScoreRun(out_xml, failed=[(str(path), _one_line(err))]))
            continue
        say(summary(run))
        runs.append(run)
    return runs


def summary(run: ScoreRun) -> str:
    """One line: what was written from how many pages, what failed."""
    failed = (f"; {len(run.failed)} page(s) FAILED: " + ", ".join(n for n, _ in run.failed)
              if run.failed else "")
    midi = f" and {run.midi}" if run.midi else ""
    return (f"{run.out_xml}{midi}: {run.read}/{run.pages} pages, {run.parts} parts, {run.measures} measures "
            f"in {run.seconds:.1f} s{failed}")


def run_command(inputs: Sequence[str], out: Optional[str], out_dir: Optional[str], force: bool = False,
                say: Callable[[str], None] = _say, html: Optional[str] = None, **options) -> int:
    """reconstruct.py's whole-score path: ``--out`` (all inputs are one score's pages) or
    ``--out-dir`` (one score per input; existing results kept unless ``force``). Exit status:
    0 every page read, 1 some page or input failed (the rest written); nothing could be done
    raises ReconstructError or InputError (reconstruct.py: one ``error:`` line, exit 2)."""
    if out_dir:
        runs = reconstruct_batch(inputs, out_dir, force=force, say=say, **options)
    elif html:  # one report section per page, written beside the score
        from detector.reconstruct.report_html import page_section, write_html_report

        sections: list = []

        def add_section(name: str, gray, result) -> None:
            sections.append(page_section(name, gray, result, number=len(sections) + 1))

        runs = [reconstruct_score(inputs, out, say=say, on_page=add_section, **options)]
        write_html_report(sections, html, title=f"Recognised: {', '.join(map(str, inputs))}")
        say(summary(runs[0]) + f"; report {html} ({sum(s.marked_bars for s in sections)} of "
            f"{sum(s.bars for s in sections)} bars doubtful)")
    else:  # like the one-page path, --out is written over
        runs = [reconstruct_score(inputs, out, say=say, **options)]
        say(summary(runs[0]))
    return 1 if any(r.failed for r in runs) else 0
