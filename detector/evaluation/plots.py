"""Pictures of an evaluation: PR curves per group, a class confusion matrix, page overlays.

Numbers say how good a detector is; pictures say why (which class is mistaken for which,
whether misses are the small symbols or the crowded ones). matplotlib runs on the Agg
backend, so this works on a headless training machine.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from detector.data.deepscores import PageAnnotations, load_page_image  # noqa: E402
from detector.evaluation.groups import GROUPS  # noqa: E402
from detector.evaluation.matching import PageDetections, greedy_match  # noqa: E402
from detector.evaluation.report import EvalReport  # noqa: E402

#: Overlay colours (RGB): what each box colour means is written on the picture too.
TRUE_POSITIVE, FALSE_POSITIVE, MISSED = (0, 160, 0), (230, 0, 0), (0, 90, 255)


def plot_pr_curves(report: EvalReport, path: str | Path) -> Path:
    """Precision-recall at IoU 0.5 per group (COCO's interpolated precision, mean over classes)."""
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=100)
    recall = report.recall_thresholds  # [R]
    groups = [c.group for c in report.per_class]
    tab20 = plt.get_cmap("tab20").colors  # 11 groups: the default 10-colour cycle would repeat;
    colours = tab20[::2] + tab20[1::2]  # the strong colours first, then their light partners
    for i, group in enumerate(GROUPS):
        columns = [k for k, g in enumerate(groups) if g == group and report.pr_iou50[0, k] > -1]
        if not columns:
            continue
        curve = report.pr_iou50[:, columns].mean(axis=1)  # [R]
        ax.plot(recall, curve, color=colours[i], label=f"{group} ({len(columns)} cl., AP50 {curve.mean():.3f})")
    valid = [k for k in range(report.pr_iou50.shape[1]) if report.pr_iou50[0, k] > -1]
    if valid:
        ax.plot(recall, report.pr_iou50[:, valid].mean(axis=1), "k--", label=f"all (mAP50 {report.summary['map50']:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02),
           title="Precision-recall at IoU 0.5, by group")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    return _save(fig, path)


def confusion_counts(
    pages: Sequence[PageAnnotations], detections: dict[int, PageDetections], score_thresh: float,
) -> tuple[list[str], np.ndarray]:
    """Class confusion at IoU >= 0.5, matching regardless of class.

    Returns the class names present (ground truth or detections) and ``counts [C+1, C+1]``:
    row = true class, column = predicted class; the last row counts detections that match
    nothing ("background"), the last column ground-truth boxes nothing matched ("missed").
    """
    per_page = []
    for page in pages:
        det = detections.get(page.image_id, PageDetections.empty())
        keep = det.scores >= score_thresh
        names = [n for n, k in zip(det.class_names, keep) if k]
        matched = greedy_match(det.boxes[keep], det.scores[keep], page.boxes)
        per_page.append((page.class_names, names, matched))
    labels = sorted({n for gt, dt, _ in per_page for n in list(gt) + dt})
    index = {name: i for i, name in enumerate(labels)}
    extra = len(labels)  # "background" row / "missed" column
    counts = np.zeros((extra + 1, extra + 1), dtype=np.int64)
    for gt_names, det_names, matched in per_page:
        for det_name, g in zip(det_names, matched):
            counts[index[gt_names[g]] if g >= 0 else extra, index[det_name]] += 1
        hit = set(matched[matched >= 0].tolist())
        for g, gt_name in enumerate(gt_names):
            if g not in hit:
                counts[index[gt_name], extra] += 1
    return labels, counts


def plot_confusion_matrix(labels: list[str], counts: np.ndarray, path: str | Path) -> Path:
    """Draw ``confusion_counts`` (log colour scale: the diagonal dwarfs the confusions)."""
    size = max(6.0, 0.22 * len(labels) + 3)
    fig, ax = plt.subplots(figsize=(size, size), dpi=100)
    shown = np.where(counts > 0, counts, np.nan)
    image = ax.imshow(shown, cmap="viridis", norm=LogNorm(vmin=1, vmax=max(2, counts.max())))
    ticks = range(len(labels) + 1)
    ax.set_xticks(ticks, labels + ["missed"], rotation=90, fontsize=6)
    ax.set_yticks(ticks, labels + ["background"], fontsize=6)
    ax.set(xlabel="predicted class", ylabel="true class",
           title="Confusion at IoU >= 0.5 (any class matches)")
    if len(labels) <= 30:
        for (row, col), value in np.ndenumerate(counts):
            if value:
                ax.text(col, row, str(value), ha="center", va="center", fontsize=6, color="white")
    fig.colorbar(image, ax=ax, fraction=0.04)
    return _save(fig, path)


def render_overlay(
    page_image: np.ndarray, page: PageAnnotations, detections: PageDetections, score_thresh: float,
    max_side: int = 1600,
) -> tuple[Image.Image, dict[str, int]]:
    """The page, downscaled to ``max_side``, with true positives green, false positives red
    and missed ground truth blue (class-aware matching at IoU >= 0.5, score >= threshold).

    Args:
        page_image: ``[H, W] uint8`` gray page. page: its ground truth.
    Returns:
        The RGB picture and the counts ``{"tp", "fp", "missed"}``.
    """
    keep = detections.scores >= score_thresh
    boxes, names = detections.boxes[keep], [n for n, k in zip(detections.class_names, keep) if k]
    matched = greedy_match(boxes, detections.scores[keep], page.boxes, 0.5, names, page.class_names)
    hit = np.zeros(len(page.boxes), dtype=bool)
    hit[matched[matched >= 0]] = True

    height, width = page_image.shape
    scale = min(1.0, max_side / max(height, width))
    picture = Image.fromarray(page_image).convert("RGB")
    if scale < 1.0:
        picture = picture.resize((round(width * scale), round(height * scale)), Image.Resampling.LANCZOS)
    draw = ImageDraw.Draw(picture)
    for box in page.boxes[~hit]:
        draw.rectangle(_scaled(box, scale), outline=MISSED, width=2)
    for box, g in zip(boxes, matched):
        draw.rectangle(_scaled(box, scale), outline=TRUE_POSITIVE if g >= 0 else FALSE_POSITIVE, width=1 if g >= 0 else 2)
    counts = {"tp": int((matched >= 0).sum()), "fp": int((matched < 0).sum()), "missed": int((~hit).sum())}
    _legend(draw, counts)
    return picture, counts


def write_overlays(
    pages: Sequence[PageAnnotations], detections: dict[int, PageDetections], score_thresh: float,
    out_dir: str | Path, max_pages: int = 2, max_side: int = 1600,
) -> list[Path]:
    """Overlay PNGs of the first ``max_pages`` pages, named after the page images."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for page in list(pages)[:max_pages]:
        picture, _ = render_overlay(load_page_image(page.path), page, detections.get(page.image_id, PageDetections.empty()),
                                    score_thresh, max_side)
        path = out_dir / f"{Path(page.filename).stem}_overlay.png"
        picture.save(path)
        paths.append(path)
    return paths


def _scaled(box: np.ndarray, scale: float) -> list[float]:
    x0, y0, x1, y1 = (float(v) * scale for v in box)
    return [x0, y0, max(x1, x0 + 1), max(y1, y0 + 1)]


def _legend(draw: ImageDraw.ImageDraw, counts: dict[str, int]) -> None:
    lines = [(f"true positive: {counts['tp']}", TRUE_POSITIVE), (f"false positive: {counts['fp']}", FALSE_POSITIVE),
             (f"missed: {counts['missed']}", MISSED)]
    draw.rectangle([4, 4, 170, 8 + 14 * len(lines)], fill=(255, 255, 255), outline=(0, 0, 0))
    for i, (text, colour) in enumerate(lines):
        draw.text((8, 6 + 14 * i), text, fill=colour)


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
