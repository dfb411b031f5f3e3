"""Evaluate a model: tiled full-page inference, COCO results, metrics, TensorBoard logging.

Validation during training and ``eval.py`` both come through here, so a number logged
during training is the number ``eval.py`` prints for the same checkpoint and pages.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from detector.config import Config, DataConfig
from detector.data.classes import DSV2_ID_BY_NAME
from detector.data.coco import to_coco
from detector.data.deepscores import PageAnnotations, load_page_image
from detector.evaluation.coco_eval import evaluate_detections
from detector.evaluation.matching import PageDetections, detections_by_image
from detector.evaluation.plots import render_overlay
from detector.evaluation.report import EvalReport
from detector.model import detect_pages


def to_coco_results(
    image_id: int, boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
) -> list[dict]:
    """One page's detections as COCO results (``[x, y, w, h]``, DSv2 category ids).

    Args:
        boxes: ``[K, 4]`` x0 y0 x1 y1 page pixels. scores: ``[K]``. labels: ``[K]`` indices
            into ``class_names``.
    """
    category_ids = [DSV2_ID_BY_NAME[name] for name in class_names]
    return [
        {
            "image_id": int(image_id),
            "category_id": category_ids[int(label)],
            "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
            "score": float(score),
        }
        for (x0, y0, x1, y1), score, label in zip(np.asarray(boxes).tolist(), np.asarray(scores), np.asarray(labels))
    ]


def page_as_trained(page_image: np.ndarray, data_cfg: DataConfig) -> tuple[np.ndarray, float, float]:
    """The page at the scale the model was trained on, and the x/y factors back to page pixels.

    Crop mode trains at native resolution: the page is used as is. Resize mode (the
    ablation) trains on whole pages shrunk so the long side is ``data.imgsz``, with area
    averaging, as ``ResizeDataset`` does; a model trained so must see its pages that way.
    """
    if data_cfg.mode != "resize":
        return page_image, 1.0, 1.0
    height, width = page_image.shape
    factor = data_cfg.imgsz / max(height, width)
    new_w, new_h = max(1, round(width * factor)), max(1, round(height * factor))
    small = np.asarray(Image.fromarray(page_image).resize((new_w, new_h), Image.BOX), dtype=np.uint8)
    return small, width / new_w, height / new_h


def predict_pages(
    model: torch.nn.Module, pages: Sequence[PageAnnotations], class_names: Sequence[str], cfg: Config,
    device: str | torch.device, progress: bool = True, precision: str = "fp32",
) -> list[dict]:
    """Tiled inference page by page (a page is ~10 megapixels) -> COCO results in page pixels.

    ``detect_pages`` puts the model in eval mode and gives it back in the mode it came in,
    so training can call this mid-run. A resize-mode model sees shrunk pages
    (``page_as_trained``) and its boxes are scaled back.
    """
    results: list[dict] = []
    for page in tqdm(pages, desc="evaluating pages", unit="page", disable=not progress, leave=False):
        image, scale_x, scale_y = page_as_trained(load_page_image(page.path), cfg.data)
        output = detect_pages(model, [image], cfg.model, device, precision=precision)[0]
        boxes = output["boxes"] * np.array([scale_x, scale_y, scale_x, scale_y], dtype=np.float32)  # [K, 4]
        results += to_coco_results(page.image_id, boxes, output["scores"], output["labels"], class_names)
    return results


def evaluate_model(
    model: torch.nn.Module,
    pages: Sequence[PageAnnotations],
    class_names: Sequence[str],
    cfg: Config,
    device: str | torch.device,
    writer=None,
    step: Optional[int] = None,
) -> EvalReport:
    """Detect on ``pages``, score with pycocotools and (optionally) log to TensorBoard.

    Args:
        pages: validation pages (ground truth of ``class_names`` only).
        cfg: reads ``cfg.model`` (tiling, decoding) and ``cfg.eval`` (score_thresh, max_dets,
            overlay_pages).
        writer: a ``torch.utils.tensorboard.SummaryWriter``; scalars and overlays go there.
        step: the global step to log at.
    """
    results = predict_pages(model, pages, class_names, cfg, device, progress=writer is None)
    report = evaluate_detections(to_coco(pages, class_names), results, class_names,
                                 cfg.eval.score_thresh, cfg.eval.max_dets)
    if writer is not None:
        log_report(writer, report, step)
        log_overlays(writer, pages, results, class_names, cfg.eval.score_thresh, cfg.eval.overlay_pages, step)
    return report


def log_report(writer, report: EvalReport, step: Optional[int]) -> None:
    """Summary metrics under ``val/`` and each group's mAP under ``val_group_map/``."""
    for key in ("map", "map50", "map75", "map_small", "map_medium", "core_map", "core_map50", "precision", "recall"):
        if report.summary.get(key) is not None:
            writer.add_scalar(f"val/{key}", report.summary[key], step)
    for group in report.per_group:
        tag = group.name.replace(" ", "_")
        if group.map is not None:
            writer.add_scalar(f"val_group_map/{tag}", group.map, step)
        if group.located_map50 is not None:
            writer.add_scalar(f"val_group_as_one_ap50/{tag}", group.located_map50, step)


def log_overlays(
    writer, pages: Sequence[PageAnnotations], results: list[dict], class_names: Sequence[str],
    score_thresh: float, max_pages: int, step: Optional[int], max_side: int = 1024,
) -> None:
    """Overlay pictures (green hit, red false positive, blue miss) of the first pages."""
    detections = detections_by_image(results, class_names)
    for i, page in enumerate(list(pages)[:max_pages]):
        dets = detections.get(page.image_id, PageDetections.empty())
        picture, _ = render_overlay(load_page_image(page.path), page, dets, score_thresh, max_side)
        writer.add_image(f"val_overlay/{i}", np.asarray(picture), step, dataformats="HWC")
