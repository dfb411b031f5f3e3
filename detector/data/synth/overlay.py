"""``--draw``: overlay PNGs of generated pages with every box drawn in its class's colour."""
from __future__ import annotations

import colorsys
import json
from pathlib import Path

from PIL import Image, ImageDraw

from detector.data.classes import DSV2_CATEGORIES


def class_colour(ds_id: int) -> tuple[int, int, int]:
    """A stable, well-spread colour per DSv2 id (golden-ratio hue steps)."""
    r, g, b = colorsys.hsv_to_rgb((ds_id * 0.618034) % 1.0, 0.9, 0.85)
    return int(r * 255), int(g * 255), int(b * 255)


def draw_overlays(dataset_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """Draw each page of ``dataset_dir`` (composited on white) with its boxes and class names.

    Returns:
        The written overlay paths (``<dataset>/overlays/<image stem>_boxes.png``).
    """
    dataset_dir = Path(dataset_dir)
    out_dir = Path(out_dir or dataset_dir / "overlays")
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {str(i): n for i, n in DSV2_CATEGORIES}
    written = []
    for split in ("train", "test"):
        doc = json.loads((dataset_dir / f"deepscores_{split}.json").read_text())
        for image in doc["images"]:
            page = Image.open(dataset_dir / "images" / image["filename"]).convert("RGBA")
            canvas = Image.new("RGBA", page.size, "white")
            canvas.alpha_composite(page)
            draw = ImageDraw.Draw(canvas)
            for ann_id in image["ann_ids"]:
                ann = doc["annotations"][ann_id]
                ds_id = int(ann["cat_id"][0])
                colour = class_colour(ds_id)
                draw.rectangle(ann["a_bbox"], outline=colour, width=1)
                if names[str(ds_id)] not in ("stem", "legerLine", "beam", "staff"):
                    draw.text((ann["a_bbox"][0], ann["a_bbox"][3] + 1), names[str(ds_id)], fill=colour)
            path = out_dir / f"{Path(image['filename']).stem}_boxes.png"
            canvas.convert("RGB").save(path)
            written.append(path)
    return written
