"""The one symbol record of the reconstruct stage, and its conversions to/from COCO and DSv2.

Reconstruction reads detections (ground truth or a detector's) and writes them back together
with the rebuilt stems, ledger lines and staves, so every source and sink speaks ``Symbol``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from detector.data.classes import DSV2_ID_BY_NAME, canonical_name

_NAME_BY_DSV2_ID = {i: n for n, i in DSV2_ID_BY_NAME.items()}

#: Notehead kinds that never carry a stem (Behind Bars: whole and double-whole notes).
STEMLESS_NOTEHEAD_KINDS = ("Whole", "DoubleWhole")


@dataclass
class Symbol:
    """One detected or rebuilt symbol: canonical DSv2 class name, box ``[x0, y0, x1, y1]`` in page px."""

    class_name: str
    box: tuple[float, float, float, float]
    score: float = 1.0
    id: Optional[str] = None

    @property
    def center(self) -> tuple[float, float]:
        """Box centre ``(x, y)`` in page pixels."""
        return (0.5 * (self.box[0] + self.box[2]), 0.5 * (self.box[1] + self.box[3]))

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]


def is_notehead(class_name: str) -> bool:
    """True for every DSv2 notehead class (black, half, whole, double whole; small or not)."""
    return class_name.startswith("notehead")


def notehead_kind(class_name: str) -> str:
    """``Black``, ``Half``, ``Whole`` or ``DoubleWhole`` of a notehead class name."""
    rest = class_name[len("notehead"):]
    for kind in ("DoubleWhole", "Whole", "Half", "Black"):
        if rest.startswith(kind):
            return kind
    raise ValueError(f"{class_name!r} is not a notehead class")


def has_stem(class_name: str) -> bool:
    """Whether a notehead of this class carries a stem (all but whole and double-whole)."""
    return is_notehead(class_name) and notehead_kind(class_name) not in STEMLESS_NOTEHEAD_KINDS


# --------------------------------------------------------------------------- conversions


def symbols_from_page(page: Any) -> list[Symbol]:
    """Symbols of a ``PageAnnotations`` (ground truth; score 1, id = DSv2 annotation id)."""
    return [
        Symbol(name, tuple(float(v) for v in box), 1.0, ann_id)
        for name, box, ann_id in zip(page.class_names, page.boxes, page.ann_ids)
    ]


def symbols_from_detections(detections: dict, class_names: Sequence[str]) -> list[Symbol]:
    """Symbols of one page of ``detect_pages`` output (``boxes [K,4]``, ``scores [K]``, ``labels [K]``)."""
    boxes = np.asarray(detections["boxes"], dtype=float).reshape(-1, 4)
    scores = np.asarray(detections["scores"], dtype=float).reshape(-1)
    labels = np.asarray(detections["labels"], dtype=int).reshape(-1)
    return [
        Symbol(class_names[label], tuple(box.tolist()), float(score), f"det{k}")
        for k, (box, score, label) in enumerate(zip(boxes, scores, labels))
    ]


def symbols_from_coco_results(results: Iterable[dict], image_id: Optional[int] = None) -> list[Symbol]:
    """Symbols of a COCO results list (``bbox`` ``[x, y, w, h]``, DSv2 category ids).

    Entries of other images (when ``image_id`` is given) and unknown category ids are skipped.
    """
    symbols = []
    for k, res in enumerate(results):
        if image_id is not None and int(res.get("image_id", image_id)) != image_id:
            continue
        name = _NAME_BY_DSV2_ID.get(int(res["category_id"]))
        if name is None:
            continue
        x, y, w, h = (float(v) for v in res["bbox"])
        score, symbol_id = float(res.get("score", 1.0)), str(res.get("id", k))
        symbols.append(Symbol(name, (x, y, x + w, y + h), score, symbol_id))
    return symbols


def symbols_to_coco_results(symbols: Iterable[Symbol], image_id: int) -> list[dict]:
    """COCO results entries (``image_id``, DSv2 ``category_id``, ``bbox`` ``[x,y,w,h]``, ``score``)."""
    return [
        {
            "image_id": int(image_id),
            "category_id": DSV2_ID_BY_NAME[canonical_name(s.class_name)],
            "bbox": [s.box[0], s.box[1], s.box[2] - s.box[0], s.box[3] - s.box[1]],
            "score": float(s.score),
        }
        for s in symbols
    ]


def symbols_to_dsv2_annotations(
    symbols: Iterable[Symbol], image_id: int, first_ann_id: int = 1,
) -> dict[str, dict]:
    """DSv2 OBB ``annotations`` table (id -> entry) for ``symbols`` (axis-aligned ``o_bbox``).

    ``cat_id`` carries only the deepscores id (the muscima++ slot is None): reconstruction
    does not know the muscima++ mapping, and DSv2 readers select by the deepscores set.
    """
    table = {}
    for k, s in enumerate(symbols):
        x0, y0, x1, y1 = (float(v) for v in s.box)
        table[str(first_ann_id + k)] = {
            "a_bbox": [x0, y0, x1, y1],
            "o_bbox": [x1, y1, x1, y0, x0, y0, x0, y1],
            "cat_id": [str(DSV2_ID_BY_NAME[canonical_name(s.class_name)]), None],
            "area": int(round((x1 - x0) * (y1 - y0))),
            "img_id": str(image_id),
            "comments": f"score:{s.score:.3f}",
        }
    return table


def boxes_of(symbols: Sequence[Symbol]) -> np.ndarray:
    """``[N, 4]`` float array of the symbols' boxes (``[0, 4]`` when empty)."""
    return np.array([s.box for s in symbols], dtype=float).reshape(-1, 4)


__all__ = [
    "Symbol", "is_notehead", "notehead_kind", "has_stem", "symbols_from_page", "symbols_from_detections",
    "symbols_from_coco_results", "symbols_to_coco_results", "symbols_to_dsv2_annotations", "boxes_of",
]
