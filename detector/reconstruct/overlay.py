"""A picture of what reconstruction found: staves, stems and ledger lines over the page.

Drawn in the ink frame (where the page shows them), each kind in its own colour, so that a
glance tells a missed ledger line (no green) from a misplaced stem (red beside the ink).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from detector.reconstruct.structure import StructureResult

STAFF_COLOUR = (0, 90, 255)  # blue
STEM_COLOUR = (230, 0, 0)  # red
LEDGER_COLOUR = (0, 170, 0)  # green
RULE_ONLY_COLOUR = (255, 140, 0)  # orange: proposed by the rule, not seen in the ink


def draw_structure(gray: np.ndarray, result: StructureResult, staff_samples: int = 64) -> Image.Image:
    """RGB page with each staff line traced, stems and ledger lines boxed (ink frame)."""
    page = Image.fromarray(np.asarray(gray, dtype=np.uint8)).convert("RGB")
    # fade the page so that the colours stand out from the black ink
    page = Image.blend(page, Image.new("RGB", page.size, (255, 255, 255)), 0.45)
    draw = ImageDraw.Draw(page)
    for staff in result.staves:
        xs = np.linspace(staff.x0, staff.x1, staff_samples)
        for line in range(5):
            ys = staff.y_at(line, xs)
            draw.line(list(zip(xs.tolist(), ys.tolist())), fill=STAFF_COLOUR, width=2)
    for ledger in result.ledgers:
        colour = LEDGER_COLOUR if ledger.from_ink else RULE_ONLY_COLOUR
        x0, y0, x1, y1 = ledger.box
        draw.rectangle([x0 - 1, y0 - 1, x1 + 1, y1 + 1], outline=colour, width=2)
    for stem in result.stems:
        colour = STEM_COLOUR if stem.from_ink else RULE_ONLY_COLOUR
        x0, y0, x1, y1 = stem.box
        draw.rectangle([x0 - 1, y0, x1 + 1, y1], fill=colour)
    return page


def save_overlay(gray: np.ndarray, result: StructureResult, path: str | Path) -> Path:
    """Write ``draw_structure`` as a PNG (folders created) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    draw_structure(gray, result).save(path)
    return path
