"""``eval.py``'s one function: score a checkpoint (or a COCO results file) on a DSv2 split.

Writes into the output folder: ``report.json`` (with the checkpoint, data and config it came
from), ``report.md``, ``pr_curves.png``, ``confusion_matrix.png``, ``overlays/*.png`` and, when a
model ran, ``detections.json`` (COCO results: rescore later with ``--detections`` without
running the model again).
Every user mistake (a missing file, a detections file that does not fit the data) ends as
an ``EvalInputError`` with one line; ``eval.py`` prints it and exits with status 2.
"""
from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Optional

import torch

from detector.atomic_files import atomic_write
from detector.config import Config, ConfigError, config_to_dict
from detector.data.classes import UnknownClassError, resolve_classes
from detector.data.coco import to_coco
from detector.data.deepscores import (DeepScoresFormatError, ImageReadError, PageAnnotations,
                                      load_deepscores, split_json_path)
from detector.evaluation.coco_eval import DetectionsError, check_detections, evaluate_detections
from detector.evaluation.inference import predict_pages
from detector.evaluation.matching import detections_by_image
from detector.evaluation.plots import confusion_counts, plot_confusion_matrix, plot_pr_curves, write_overlays
from detector.evaluation.report import EvalReport
from detector.model.model_io import DEFAULT_WEIGHTS, CheckpointError, load_model, read_checkpoint
from detector.model.precision import resolve_precision
from detector.writable import NotWritableError, check_writable_dir

#: The checkpoint ``eval.py`` scores when ``--weights`` is not given.

#: Where reports go when ``--out`` is not given: ``runs/eval/<checkpoint or detections stem>``.
DEFAULT_OUT_ROOT = Path("runs/eval")


class EvalInputError(Exception):
    """A user mistake in what eval.py was given (one line, no traceback)."""


def run_evaluation(
    weights: Optional[str | Path] = None,
    detections: Optional[str | Path] = None,
    data: Optional[str | Path] = None,
    split: str = "val",
    out: Optional[str | Path] = None,
    score_thresh: Optional[float] = None,
    max_pages: Optional[int] = None,
    device: str = "auto",
    overlays: Optional[int] = None,
    verbose: bool = True,
    precision: str = "fp32",
) -> EvalReport:
    """Evaluate a checkpoint (tiled inference) or a COCO results file; write the report files.

    Args:
        weights: checkpoint; default ``DEFAULT_WEIGHTS`` unless ``detections`` is given (then
            only its class list and config are used, when given).
        detections: COCO results JSON (``image_id``, ``category_id`` = DSv2 id, ``bbox``
            ``[x, y, w, h]``, ``score``) scored instead of running a model.
        data: DSv2 folder or annotation JSON; default the config's dataset (synthetic default).
        split: ``val`` (DSv2's ``test`` file), ``train``, ``test`` or another split name.
        out: output folder. score_thresh: overrides ``cfg.eval.score_thresh``.
        max_pages: evaluate the first N pages only (default: all, whatever the checkpoint's
            ``eval.max_pages``, which limits validation during training).
        overlays: overlay pages to draw (default ``cfg.eval.overlay_pages``).
        precision: inference number format, ``fp32``, ``bf16`` or ``auto`` (``model/precision.py``).
        verbose: print the summary tables and the output folder.
    Raises:
        EvalInputError: a missing or malformed input file, an unknown class or image id.
    """
    try:
        return _run(weights, detections, data, split, out, score_thresh, max_pages, device, overlays, verbose,
                    precision)
    except (FileNotFoundError, DeepScoresFormatError, ImageReadError, DetectionsError, UnknownClassError,
            ConfigError, NotWritableError) as err:
        raise EvalInputError(str(err)) from None


def _run(weights, detections, data, split, out, score_thresh, max_pages, device, overlays,
         verbose, precision) -> EvalReport:
    torch_device = _resolve_device(device)
    try:
        precision = resolve_precision(precision, torch_device)
    except ValueError as err:
        raise EvalInputError(str(err)) from None
    if detections is None and weights is None:
        weights = DEFAULT_WEIGHTS
    out_dir = Path(out) if out else DEFAULT_OUT_ROOT / Path(detections or weights).stem
    check_writable_dir(out_dir)  # before the slow part: a read-only folder fails at once
    if weights:
        model, cfg, class_names, facts = _load_checkpoint(weights, torch_device)
    else:
        model, cfg, class_names, facts = None, Config(), None, {}
    class_names = list(class_names or resolve_classes(cfg.data.classes))
    if score_thresh is not None:
        cfg.eval.score_thresh = score_thresh
    cfg.eval.max_pages = max_pages or 0  # a standalone evaluation sees every page unless told

    json_path = _annotation_file(cfg, data, split)
    all_pages = load_deepscores(json_path, classes=class_names).pages
    pages = all_pages[: cfg.eval.max_pages] if cfg.eval.max_pages > 0 else all_pages
    if not pages:
        raise EvalInputError(f"{json_path}: no pages to evaluate")

    if detections is not None:
        results = _read_detections(Path(detections), all_pages, pages, class_names)
    else:
        results = predict_pages(model, pages, class_names, cfg, torch_device, precision=precision)

    report = evaluate_detections(to_coco(pages, class_names), results, class_names,
                                 cfg.eval.score_thresh, cfg.eval.max_dets)
    report.provenance = _provenance(weights, facts, detections, json_path, split, pages, cfg)
    if detections is None:
        report.provenance["precision"] = precision
    write_outputs(report, pages, results, class_names, cfg.eval.score_thresh, out_dir,
                  cfg.eval.overlay_pages if overlays is None else overlays)
    if detections is None:
        write_detections_json(results, out_dir / "detections.json")
    if verbose:
        print(report.to_markdown(per_class=False))
        print(f"report, PR curves, confusion matrix and overlays written to {out_dir}/")
    return report


def write_outputs(
    report: EvalReport, pages: list[PageAnnotations], results: list[dict], class_names: list[str],
    score_thresh: float, out_dir: Path, overlay_pages: int,
) -> list[Path]:
    """report.json, report.md, pr_curves.png, confusion_matrix.png and overlays/ in ``out_dir``."""
    paths = list(report.save(out_dir))
    detections = detections_by_image(results, class_names)
    paths.append(plot_pr_curves(report, out_dir / "pr_curves.png"))
    labels, counts = confusion_counts(pages, detections, score_thresh)
    paths.append(plot_confusion_matrix(labels, counts, out_dir / "confusion_matrix.png"))
    paths += write_overlays(pages, detections, score_thresh, out_dir / "overlays", overlay_pages)
    return paths


def write_detections_json(results: list[dict], path: Path) -> Path:
    """The model's detections as a COCO results file, never half-written."""
    return atomic_write(path, lambda file: file.write(json.dumps(results).encode()))


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        torch_device = torch.device(device)
    except RuntimeError:
        raise EvalInputError(f"unknown device {device!r} (use auto, cpu, cuda or cuda:N)") from None
    if torch_device.type == "cuda" and not torch.cuda.is_available():
        raise EvalInputError(f"device {device!r} asked for, but no CUDA device is available "
                             "(use cpu or auto)")
    if torch_device.type not in ("cpu", "cuda"):
        raise EvalInputError(f"unsupported device {device!r} (use auto, cpu, cuda or cuda:N)")
    return torch_device


def _load_checkpoint(weights: str | Path, device: torch.device):
    """(model, cfg, class_names, facts) from a checkpoint, or a one-line error.

    ``facts`` (step, code version, stored metrics of a training checkpoint) go to the
    report's provenance.
    """
    path = Path(weights)
    if not path.is_file():
        hint = " (train one with train.py, or pass --weights)" if path == DEFAULT_WEIGHTS else ""
        raise EvalInputError(f"checkpoint not found: {path}{hint}")
    try:
        checkpoint = read_checkpoint(path)
        facts = {key: checkpoint.get(key) for key in ("step", "epoch", "code_version", "metrics")}
        del checkpoint
        return (*load_model(path, device=device), facts)
    except CheckpointError as err:
        raise EvalInputError(str(err)) from None


def _annotation_file(cfg: Config, data: Optional[str | Path], split: str) -> Path:
    """The split's DSv2 JSON: ``data`` (folder or file) or the config's dataset."""
    if data is not None:
        return split_json_path(Path(data), split)
    from detector.data.dataset import resolve_data_root  # may generate the synthetic default set

    split_name = {"val": cfg.data.val_split, "train": cfg.data.train_split}.get(split, split)
    return split_json_path(resolve_data_root(cfg), split_name)


def _read_detections(path: Path, all_pages: list[PageAnnotations], pages: list[PageAnnotations],
                     class_names: list[str]) -> list[dict]:
    """Read a COCO results file, check it against the whole split, keep the evaluated pages'."""
    if not path.is_file():
        raise EvalInputError(f"detections file not found: {path}")
    try:
        results = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise EvalInputError(f"{path}: not valid JSON ({str(err).splitlines()[0][:80]})") from None
    try:
        check_detections(to_coco(all_pages, class_names), results)
    except DetectionsError as err:
        raise EvalInputError(f"{path}: {err}") from None
    kept_ids = {p.image_id for p in pages}
    return [det for det in results if det["image_id"] in kept_ids]


def _provenance(weights, facts: dict, detections, json_path: Path, split: str, pages: list[PageAnnotations],
                cfg: Config) -> dict:
    """Where the numbers came from: enough to reproduce them."""
    return {
        "checkpoint": str(Path(weights).resolve()) if weights else None,
        "checkpoint_info": facts,
        "detections": str(Path(detections).resolve()) if detections else None,
        "data": str(json_path.resolve()),
        "split": split,
        "pages": [p.filename for p in pages],
        "config": config_to_dict(cfg),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
