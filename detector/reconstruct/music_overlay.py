"""A picture to check a recognised page at a glance: every note's pitch written next to it.

Staves in green, barlines in blue, stems in orange; each notehead gets a red box and its
pitch ('C5', 'F#4'), each rest a purple box and its value in quarters.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from detector.reconstruct.music import Score


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


def draw_music_overlay(gray: np.ndarray, score: Score, path: str | Path,
                       stem_boxes: Sequence[Sequence[float]] = ()) -> Path:
    """Write the page with the recognised music drawn over it as a PNG. gray: [H, W] uint8."""
    image = Image.fromarray(gray).convert("RGB")
    draw = ImageDraw.Draw(image)
    ss = float(np.median([s.staff.staff_space_px for s in score.staves])) if score.staves else 20.0
    font = _font(max(10, int(round(1.1 * ss))))
    for staff_music in score.staves:
        staff = staff_music.staff
        for line in range(5):
            draw.line(list(zip(staff.xs.tolist(), staff.line_ys[line].tolist())), fill=(0, 170, 0), width=1)
        for x in staff_music.barlines:
            draw.line([(x, staff.y_at(0, x) - 0.5 * ss), (x, staff.y_at(4, x) + 0.5 * ss)], fill=(0, 90, 255), width=3)
    for box in stem_boxes:
        draw.rectangle([float(v) for v in box], outline=(255, 140, 0), width=1)
    for staff_music in score.staves:
        for measure in staff_music.measures:
            for event in measure.events:
                _draw_event(draw, event, font, ss)
    path = Path(path)
    image.save(path)
    return path


def _draw_event(draw: ImageDraw.ImageDraw, event, font, ss: float) -> None:
    if event.is_rest:
        x0, y0, x1, y1 = (float(v) for v in event.box)
        draw.rectangle([x0, y0, x1, y1], outline=(150, 0, 200), width=2)
        draw.text((x0, y1 + 2), f"r{float(event.duration):g}", fill=(150, 0, 200), font=font)
        return
    for pitch, box in zip(event.pitches, event.head_boxes):
        x0, y0, x1, y1 = (float(v) for v in box)
        draw.rectangle([x0, y0, x1, y1], outline=(220, 0, 0), width=2)
        # label on the side away from the stem (an up-stem is on the right of its head)
        label = pitch.name()
        lx = x0 - draw.textlength(label, font=font) - 2 if event.stem_up else x1 + 3
        draw.text((lx, y0 - 0.1 * ss), label, fill=(220, 0, 0), font=font)
