"""Check a detections file before anything reads it: COCO results or a DSv2 annotation file.

``reconstruct.py --detections`` and ``eval.py --detections`` take symbols from a file another
tool wrote. Reading code indexes into it freely (``res["bbox"]``, ``int(res["category_id"])``),
so a malformed file used to end in a ``TypeError`` traceback; this check names the first bad
entry in one line instead (``DetectionsFileError``).
"""
from __future__ import annotations

import json
import math
from numbers import Real
from pathlib import Path
from typing import Any

from detector.data.deepscores import parse_deepscores


class DetectionsFileError(ValueError):
    """A detections file that is not valid JSON, or not COCO results / DSv2 (one-line message)."""


def read_detections_file(path: str | Path) -> list | dict:
    """The parsed JSON of a detections file, checked; raises ``DetectionsFileError``.

    A list must be COCO results: objects with ``category_id`` (integer or digit string),
    ``bbox`` ``[x, y, w, h]`` of finite numbers with ``w, h >= 0`` and, when present, a finite
    number ``score`` and an integer ``image_id``. An object must be a DSv2 annotation file
    (``images`` and ``annotations``), checked by the DSv2 reader.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_bytes())
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise DetectionsFileError(f"cannot read detections {path}: {reason}") from None
    except (ValueError, UnicodeDecodeError, RecursionError) as err:
        reason = str(err).splitlines()[0][:100] if str(err) else type(err).__name__
        raise DetectionsFileError(f"{path}: not valid JSON ({reason})") from None
    if isinstance(data, list):
        for index, entry in enumerate(data):
            problem = coco_result_problem(entry)
            if problem:
                raise DetectionsFileError(f"{path}: detection {index}: {problem}")
        return data
    if isinstance(data, dict) and "annotations" in data and "images" in data:
        try:
            parse_deepscores(data, path, path.parent / "images", check_images=False)
        except ValueError as err:  # DeepScoresFormatError and its kin
            raise DetectionsFileError(f"{path}: {str(err).splitlines()[0]}") from None
        return data
    raise DetectionsFileError(f"{path}: expected a COCO results list or a DSv2 annotation file, "
                              f"got {type(data).__name__}")


def coco_result_problem(entry: Any) -> str:
    """What is wrong with one COCO results entry ('' when nothing is)."""
    if not isinstance(entry, dict):
        return f"expected an object with category_id, bbox, score; got {type(entry).__name__}"
    for key in ("category_id", "bbox"):
        if key not in entry:
            return f"missing key {key!r}"
    if not _is_integer(entry["category_id"]):
        return f"category_id must be an integer, got {entry['category_id']!r}"
    if "image_id" in entry and not _is_integer(entry["image_id"]):
        return f"image_id must be an integer, got {entry['image_id']!r}"
    bbox = entry["bbox"]
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(_is_finite(v) for v in bbox)):
        return f"bbox must be [x, y, w, h], four finite numbers; got {_short(bbox)}"
    if bbox[2] < 0 or bbox[3] < 0:
        return f"bbox width and height must be >= 0, got {_short(bbox)}"
    if "score" in entry and not _is_finite(entry["score"]):
        return f"score must be a finite number, got {_short(entry['score'])}"
    return ""


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return abs(value) < 2**63
    return isinstance(value, str) and value.strip().lstrip("-").isdigit() and len(value) < 19


def _is_finite(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
