"""Image -> MusicXML: detection, staff lines, stems, ledger lines, music, output.

`reconstruct_page` is the one call behind `reconstruct.py`. Symbols come from a detector
checkpoint (tiled inference over the whole page) or from a detections JSON (COCO results,
or a DSv2 annotation file holding the page: ground truth). Each stage prints one progress
line with its time.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from detector.model.model_io import DEFAULT_WEIGHTS, CheckpointError, load_model
from detector.reconstruct.margin_text import read_labels

from detector.data.deepscores import load_page_image, parse_deepscores
from detector.reconstruct.doubts import LOW_SCORE_FLOOR
from detector.reconstruct.music import Score
from detector.reconstruct.music_overlay import draw_music_overlay
from detector.reconstruct.deskew import deskew_page, turn_boxes_keeping_size
from detector.reconstruct.musicxml import write_musicxml
from detector.reconstruct.page_scale import normalise_page
from detector.reconstruct.reading import read_score
from detector.reconstruct.structure import StructureResult, reconstruct_structure
from detector.reconstruct.symbols import (
    Symbol, symbols_from_coco_results, symbols_from_detections, symbols_from_page,
)

#: Where reconstruct.py looks for a detector when --weights is not given.

#: Classes rebuilt from the ink, so dropped from any input (ground truth has them).
REBUILT_CLASSES = ("stem", "ledgerLine", "beam", "staff")


class ReconstructError(RuntimeError):
    """A user-facing problem (missing file, unreadable detections): one line, no traceback."""


@dataclass
class PageResult:
    """Everything reconstruct_page produced for one page."""

    score: Score
    structure: StructureResult
    symbols: list[Symbol]  # what the music was read from: event.head_ids index this list
    seconds: dict = field(default_factory=dict)
    detected: list[Symbol] = field(default_factory=list)  # the page's input symbols (input frame)
    low_confidence: list[Symbol] = field(default_factory=list)  # under the threshold: not read, only reported


def read_music(gray: np.ndarray, symbols: list[Symbol],
               read_text: bool = True) -> tuple[Score, StructureResult, list[Symbol]]:
    """Staves, stems and ledger lines (structure.py), then the music (reading.py), from a page's
    symbols; with ``read_text``, part names and bar numbers from the margins (margin_text.py).

    Returns the score, the structure and the symbols the score's indices refer to
    (``structure.symbols``: the input symbols that were kept, plus the rebuilt ones).
    """
    structure = reconstruct_structure(gray, [s for s in symbols if s.class_name not in REBUILT_CLASSES])
    score = read_score(structure)
    if read_text:
        read_labels(gray, score)
    return score, structure, structure.symbols


def turned_symbols(symbols: list[Symbol], degrees: float, shape: tuple[int, int]) -> list[Symbol]:
    """Symbols given in the page's own frame, moved with the page when deskewing turned it."""
    if not degrees or not symbols:
        return symbols
    boxes = turn_boxes_keeping_size(np.array([s.box for s in symbols], dtype=float), degrees, shape)
    return [replace(s, box=tuple(float(v) for v in box)) for s, box in zip(symbols, boxes)]


def missing_weights_message(path: Path) -> str:
    """The error for a missing checkpoint: it says how to get one."""
    return (f"no detector checkpoint at {path}: retrain the default with `python train.py --config "
            f"configs/default_model.yaml` then `python -m detector.model.export "
            f"runs/default_model/checkpoints/best.pt {DEFAULT_WEIGHTS} --half`, or pass --weights CKPT, "
            f"or give symbols with --detections DETS.json")


def read_detections(path: Path, image_path: Path) -> list[Symbol]:
    """Symbols of the page from a COCO results list or a DSv2 annotation file.

    A DSv2 file may hold many pages: the one whose filename is the image's is used.
    """
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ReconstructError(f"cannot read detections {path}: {str(err).splitlines()[0][:100]}") from None
    if isinstance(data, list):
        return symbols_from_coco_results(data)
    if isinstance(data, dict) and "annotations" in data and "images" in data:
        split = parse_deepscores(data, Path(path), Path(path).parent / "images", check_images=False)
        page = next((p for p in split.pages if p.filename == image_path.name), None)
        if page is None and len(split.pages) == 1:
            page = split.pages[0]
        if page is None:
            raise ReconstructError(f"{path} holds no page named {image_path.name}")
        return symbols_from_page(page)
    raise ReconstructError(f"{path}: expected a COCO results list or a DSv2 annotation file")


def detect_symbols(gray: np.ndarray, weights: Path, low: Optional[list[Symbol]] = None,
                   device: Optional[str] = None, progress: bool = False,
                   precision: str = "auto") -> list[Symbol]:
    """Tiled detection over the whole page with the checkpoint's own config.

    A page whose staff space is outside the detector's trained range (a 150- or 600-dpi scan)
    is resampled into it first (``page_scale.normalise_page``); boxes come back in page pixels.

    ``low``, when given, receives the detections under the operating threshold but above
    ``doubts.LOW_SCORE_FLOOR`` (``low_confidence_symbols``), for the report to show.
    ``device``: "cpu", "cuda" or None/"auto" (CUDA when there is one); ``progress``: a tile bar;
    ``precision``: "fp32", "bf16" or "auto" (bf16 where the hardware runs it fast: ``model/precision.py``).
    """
    if not weights.exists():
        raise ReconstructError(missing_weights_message(weights))
    import torch

    from detector.model.tiled import detect_pages

    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device.startswith("cuda") and not torch.cuda.is_available():
        raise ReconstructError("--device cuda: no CUDA device is available here (use --device cpu)")
    try:
        model, cfg, class_names = load_model(weights, device=device)
    except CheckpointError as err:
        raise ReconstructError(f"{err}; {missing_weights_message(weights).split(': ', 1)[1]}") from None
    work, scale = normalise_page(gray)  # into the trained staff-space range (page_scale.py)
    try:
        detections = detect_pages(model, [work], cfg.model, device, progress=progress, precision=precision)[0]
    except ValueError as err:  # bf16 asked of a GPU without it
        raise ReconstructError(str(err)) from None
    detections["boxes"] = detections["boxes"] / scale.factor  # back to page pixels
    if low is not None:
        low.extend(low_confidence_symbols(detections, class_names, cfg.eval.score_thresh))
    return confident_symbols(detections, class_names, cfg.eval.score_thresh)


def low_confidence_symbols(detections: dict, class_names: list[str], score_thresh: float,
                           floor: float = LOW_SCORE_FLOOR) -> list[Symbol]:
    """Detections in [floor, score_thresh) that no better box of any class covers: doubtful
    places for the report (``doubts.py``), never read into the music."""
    keep = detections["scores"] >= floor
    kept = one_box_per_symbol({key: value[keep] for key, value in detections.items()})
    low = kept["scores"] < score_thresh
    return symbols_from_detections({key: value[low] for key, value in kept.items()}, class_names)


def confident_symbols(detections: dict, class_names: list[str], score_thresh: float) -> list[Symbol]:
    """The symbols music is read from: detections at or above the operating threshold of
    evaluation, one box per symbol (``one_box_per_symbol``)."""
    keep = detections["scores"] >= score_thresh
    detections = {key: value[keep] for key, value in detections.items()}
    return symbols_from_detections(one_box_per_symbol(detections), class_names)


def one_box_per_symbol(detections: dict, iou: float = 0.5) -> dict:
    """Class-agnostic NMS: where boxes of different classes overlap, the best-scoring wins.

    The detector's NMS is class-aware, so one symbol can come out twice with two classes
    (noteheadBlackOnLine and noteheadBlackOnLineSmall on one box, a rest read on a clef).
    Music needs one reading per symbol. Safe at IoU 0.5: no two Stage-2 ground-truth boxes of
    different classes overlap that much (0 pairs on the DSv2 sample page and 18 synthetic
    pages); on 8 synthetic pages it raised precision at 0.5 from 0.80 to 0.92 (recall 0.90 -> 0.89).
    """
    import torch
    from torchvision.ops import nms

    if len(detections["scores"]) == 0:
        return detections
    keep = nms(torch.as_tensor(detections["boxes"], dtype=torch.float32),
               torch.as_tensor(detections["scores"], dtype=torch.float32), iou).numpy()
    return {key: value[keep] for key, value in detections.items()}


def reconstruct_page(image_path: str | Path, weights: Optional[str | Path] = None,
                     detections: Optional[str | Path] = None, out_xml: Optional[str | Path] = None,
                     overlay_png: Optional[str | Path] = None, symbols_json: Optional[str | Path] = None,
                     log: Callable[[str], None] = print, device: Optional[str] = None,
                     precision: str = "auto") -> PageResult:
    """Read one page image into music and write what was asked for.

    Args:
        image_path: the page (PNG/JPEG; RGBA is composited on white).
        weights: detector checkpoint; default `DEFAULT_WEIGHTS` when no detections are given.
        detections: symbols JSON instead of running the detector (COCO results or DSv2).
        out_xml / overlay_png / symbols_json: outputs (MusicXML 4.0, check picture, symbols).
        device / precision: where and in which number format the detector runs (``detect_symbols``).
    """
    image_path = Path(image_path)
    if not image_path.exists():
        raise ReconstructError(f"no such image: {image_path}")
    if detections is None and not Path(weights or DEFAULT_WEIGHTS).exists():
        raise ReconstructError(missing_weights_message(Path(weights or DEFAULT_WEIGHTS)))
    if detections is not None and not Path(detections).exists():
        raise ReconstructError(f"no such detections file: {detections}")
    for output in (out_xml, overlay_png, symbols_json):
        if output:  # made before the slow stages, so an unwritable place fails at once
            try:
                Path(output).parent.mkdir(parents=True, exist_ok=True)
            except OSError as err:
                raise ReconstructError(f"cannot create the folder of {output}: {err.strerror}") from None
    seconds: dict[str, float] = {}

    def stage(name: str, started: float, detail: str) -> None:
        seconds[name] = time.perf_counter() - started
        log(f"[{name:>9}] {seconds[name]:6.2f} s  {detail}")

    t = time.perf_counter()
    gray = load_page_image(image_path)
    stage("image", t, f"{gray.shape[1]}x{gray.shape[0]} px")
    t = time.perf_counter()
    gray, skew = deskew_page(gray)
    stage("deskew", t, f"turned {skew:+.2f} degrees to level the staves" if skew else "staves level")
    t = time.perf_counter()
    low: list[Symbol] = []
    if detections is not None:
        symbols = turned_symbols(read_detections(Path(detections), image_path), skew, gray.shape)
        source = f"from {detections}"
    else:
        symbols = detect_symbols(gray, Path(weights) if weights else DEFAULT_WEIGHTS, low=low, device=device,
                                 progress=True, precision=precision)
        source = f"detected with {weights or DEFAULT_WEIGHTS}"
    symbols = [s for s in symbols if s.class_name not in REBUILT_CLASSES]
    stage("symbols", t, f"{len(symbols)} symbols {source}")
    t = time.perf_counter()
    structure = reconstruct_structure(gray, symbols)
    staves = structure.staves
    stage("structure", t, f"{len(staves)} staves, {len(structure.stems)} stems, "
                          f"{len(structure.ledgers)} ledger lines" + (f" ({structure.staff_detection.reason})" if not staves else ""))
    t = time.perf_counter()
    score, used = read_score(structure), structure.symbols
    notes = sum(len(e.pitches) for s in score.staves for m in s.measures for e in m.events)
    measures = sum(len(s.measures) for s in score.staves)
    stage("music", t, f"{len(score.parts)} parts, {measures} staff-measures, {notes} notes")
    t = time.perf_counter()
    unread = read_labels(gray, score)
    names = ", ".join(p.name or p.abbreviation or "?" for p in score.parts)
    stage("text", t, unread or f"part names: {names or 'none'}; first bar {score.first_measure}")
    t = time.perf_counter()
    written = []
    if out_xml:
        written.append(str(write_musicxml(score, out_xml, title=image_path.stem)))
    if overlay_png:
        written.append(str(draw_music_overlay(gray, score, overlay_png,
                                              [s.box for s in used if s.class_name == "stem"])))
    if symbols_json:
        written.append(str(write_symbols_json(structure, score, symbols_json)))
    stage("output", t, ", ".join(written) or "nothing asked")
    return PageResult(score, structure, used, seconds, detected=symbols, low_confidence=low)


def write_symbols_json(structure: StructureResult, score: Score, path: str | Path) -> Path:
    """Symbols (input + rebuilt, boxes [x0, y0, x1, y1]) and the recognised notes, as JSON."""
    notes = []
    for staff in score.staves:
        for m, measure in enumerate(staff.measures):
            order = 0
            for event in measure.events:
                if event.grace:
                    continue
                for pitch in event.pitches or [None]:
                    notes.append({"staff": staff.index, "measure": m, "order": order,
                                  "pitch": pitch.name() if pitch else None, "rest": pitch is None,
                                  "duration_quarters": str(event.duration)})
                order += 1
    data = {
        "symbols": [{"class_name": s.class_name, "box": [round(float(v), 2) for v in s.box],
                     "score": round(float(s.score), 4)} for s in structure.symbols],
        "barlines": [{"staff": s.index, "x": [round(x, 1) for x in s.barlines]} for s in score.staves],
        "notes": notes,
    }
    path = Path(path)
    path.write_text(json.dumps(data, indent=1))
    return path
