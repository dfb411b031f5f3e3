"""Read DeepScoresV2 (DSv2) OBB annotation files and page images.

The reader takes the JSON exactly as DSv2 ships it: ``categories`` is a dict keyed by string
id holding two annotation sets (``deepscores`` and ``muscima++``), every annotation's
``cat_id`` is a list with one id per set, ``images[].id`` is an int while
``annotations[].img_id`` is a string, and ``a_bbox`` is ``[x0, y0, x1, y1]`` in pixels.
Classes are resolved by NAME (with aliases, see ``classes.py``), never by numeric id.

Bad input follows one rule: a file whose structure is wrong (a missing key, a value of the
wrong type) raises ``DeepScoresFormatError`` with one line naming the key; a page or box whose
*values* are wrong (missing image, inverted or empty box, box off the page, unknown category)
is skipped, counted in ``DeepScoresSplit.skipped`` and summarised once per load.
"""
from __future__ import annotations

import json
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
from PIL import Image

from detector.data.classes import UnknownClassError, canonical_name, resolve_classes

log = logging.getLogger(__name__)

#: The annotation set whose ids and names this package uses.
DEEPSCORES_SET = "deepscores"


class DeepScoresFormatError(ValueError):
    """The JSON does not have the DSv2 OBB structure; the message names the offending key."""


class ImageReadError(OSError):
    """A page image is missing, not an image, or truncated (one-line message)."""


@dataclass
class PageAnnotations:
    """One page: its image file and its boxes (canonical class names, page pixels)."""

    image_id: int
    filename: str
    path: Path
    width: int
    height: int
    boxes: np.ndarray  # [N, 4] float32, x0 y0 x1 y1, clipped to the page
    obboxes: np.ndarray  # [N, 8] float32, the four corners as shipped
    class_names: list[str]  # [N] canonical DSv2 names
    ann_ids: list[str]  # [N] DSv2 annotation ids
    comments: list[str]  # [N] DSv2 comments (the generator stores ``mei:<xml:id>`` here)

    def select(self, keep: np.ndarray) -> "PageAnnotations":
        """A copy of the page holding only the annotations where ``keep`` [N] bool is true."""
        idx = np.flatnonzero(keep)
        return PageAnnotations(
            image_id=self.image_id,
            filename=self.filename,
            path=self.path,
            width=self.width,
            height=self.height,
            boxes=self.boxes[idx],
            obboxes=self.obboxes[idx],
            class_names=[self.class_names[i] for i in idx],
            ann_ids=[self.ann_ids[i] for i in idx],
            comments=[self.comments[i] for i in idx],
        )


@dataclass
class DeepScoresSplit:
    """The pages of one annotation file plus what the load skipped and counted."""

    json_path: Path
    pages: Sequence[PageAnnotations]  # a list, or the index's lazy IndexedPages (same pages)
    skipped: Counter = field(default_factory=Counter)  # reason -> count (summarised once)
    class_counts_all: Counter = field(default_factory=Counter)  # name -> count before the class filter
    class_names: Optional[tuple[str, ...]] = None  # the class filter; None = every class kept

    def summary(self) -> str:
        """One line: pages, annotations, and the skip counts by reason."""
        n_anns = getattr(self.pages, "num_annotations", None)  # the index knows without reading pages
        if n_anns is None:
            n_anns = sum(len(p.class_names) for p in self.pages)
        text = f"{self.json_path.name}: {len(self.pages)} pages, {n_anns} annotations"
        if self.skipped:
            text += "; skipped/fixed: " + ", ".join(f"{k}={v}" for k, v in sorted(self.skipped.items()))
        return text


# --------------------------------------------------------------------------- paths


def split_json_path(root: str | Path, split: str) -> Path:
    """Find the annotation file of ``split`` under a dataset folder (or take ``root`` itself).

    Order: ``root`` if it is a .json file; ``root/deepscores_<split>.json``; for ``val`` the
    DSv2 name ``deepscores_test.json``; the only ``*.json`` in ``root``. Otherwise a one-line
    ``FileNotFoundError`` listing the JSON files that do exist.
    """
    root = Path(root)
    if root.suffix == ".json" and root.is_file():
        return root
    if not root.is_dir():
        raise FileNotFoundError(f"dataset not found: {root} is neither a folder nor a .json file")
    candidate = root / f"deepscores_{split}.json"
    if candidate.is_file():
        return candidate
    if split == "val" and (root / "deepscores_test.json").is_file():
        return root / "deepscores_test.json"
    jsons = sorted(p.name for p in root.glob("*.json"))
    if len(jsons) == 1:
        return root / jsons[0]
    found = ", ".join(jsons) if jsons else "no .json files"
    raise FileNotFoundError(f"no annotation file for split {split!r} in {root} (found: {found})")


# --------------------------------------------------------------------------- images


def load_page_image(path: str | Path) -> np.ndarray:
    """Read a page as ``[H, W] uint8`` gray, ink dark, transparent background made white.

    Raises:
        ImageReadError: the file is missing, not an image, or truncated.
    """
    path = Path(path)
    try:
        with Image.open(path) as img:
            img.load()
            return _to_gray_on_white(img)
    except FileNotFoundError:
        raise ImageReadError(f"{path}: image file not found") from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        # PIL reports broken files through all of these (zlib/struct errors are OSError/ValueError)
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ImageReadError(f"{path}: cannot read image ({reason})") from None


def _to_gray_on_white(img: Image.Image) -> np.ndarray:
    """Composite any alpha onto white paper, then convert to 8-bit luminance.

    Pasting the luminance through the alpha mask is the same as compositing on white, and
    several times cheaper than ``alpha_composite`` on a 10-megapixel page. Images of more
    than 8 bits per pixel (``I;16*``, ``I``, ``F``) are scaled from the range they are stored
    in (``_wide_to_gray``): PIL's own ``convert("L")`` clips them at 255, which turned a 16-bit
    scan into a blank page.
    """
    if img.mode.startswith("I") or img.mode == "F":
        return _wide_to_gray(img)
    if img.mode in ("P", "PA") or (img.mode in ("L", "RGB") and "transparency" in img.info):
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        img = img.convert("RGBA") if img.mode != "RGBA" else img
        alpha = img.getchannel("A")
        gray = img.convert("L")
        if alpha.getextrema() != (255, 255):
            paper = Image.new("L", img.size, 255)
            paper.paste(gray, mask=alpha)
            gray = paper
        return np.asarray(gray, dtype=np.uint8)
    if img.mode not in ("1", "L", "RGB", "RGBX", "CMYK", "YCbCr", "HSV"):
        img = img.convert("RGB")  # LAB and other rare modes: PIL converts them through RGB
    return np.asarray(img.convert("L"), dtype=np.uint8)


def _wide_to_gray(img: Image.Image) -> np.ndarray:
    """A 16-bit, 32-bit integer or float gray image as uint8, scaled from its stored range.

    The range is the smallest of [0, 1] (float images), [0, 255], [0, 65535] that holds every
    pixel, else the image's own maximum (its paper is near the top of its range): a 16-bit scan whose darkest pixel is 5140 (20/255)
    reads as 20, not as white. Never stretched to the image's min-max: a blank page with a
    little noise must stay blank. NaN reads as paper, negative values as black.
    """
    values = np.asarray(img, dtype=np.float64)
    values = np.where(np.isnan(values), np.inf, values)  # NaN: paper
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 1.0
    if img.mode == "F" and top <= 1.0:
        full = 1.0
    elif top <= 255:  # an 8-bit picture in a wide container (PIL writes mode I so)
        full = 255.0
    elif top <= 65535:
        full = 65535.0
    else:
        full = top
    return np.clip(np.round(values / full * 255.0), 0, 255).astype(np.uint8)


def _image_header_size(path: Path) -> tuple[int, int]:
    """Width and height from the file header only (cheap: no pixel decoding)."""
    try:
        with Image.open(path) as img:
            return img.size
    except FileNotFoundError:
        raise ImageReadError(f"{path}: image file not found") from None
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as err:
        raise ImageReadError(f"{path}: not a readable image ({type(err).__name__})") from None


# --------------------------------------------------------------------------- JSON schema


def _require(mapping: Any, key: str, where: str, kind: type | tuple[type, ...]) -> Any:
    """``mapping[key]`` checked against ``kind``, or a one-line DeepScoresFormatError."""
    if not isinstance(mapping, dict):
        raise DeepScoresFormatError(f"{where}: expected an object, got {type(mapping).__name__}")
    if key not in mapping:
        raise DeepScoresFormatError(f"{where}: missing key {key!r}")
    value = mapping[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise DeepScoresFormatError(f"{where}.{key}: expected {names}, got {type(value).__name__}")
    return value


def _as_int_id(value: Any, where: str) -> int:
    """DSv2 mixes int and string ids ("410" vs 410): accept both, reject anything else."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise DeepScoresFormatError(f"{where}: expected an integer id, got {value!r}")


def _numbers(value: Any, count: int, where: str) -> np.ndarray:
    """A list of ``count`` numbers as float64 (non-finite values are left for the caller)."""
    ok = isinstance(value, (list, tuple)) and len(value) == count
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    if not ok:
        raise DeepScoresFormatError(f"{where}: expected a list of {count} numbers, got {str(value)[:60]}")
    return np.array([_finite_or_inf(v) for v in value], dtype=np.float64)


def _finite_or_inf(value: int | float) -> float:
    """JSON integers can exceed a float; those become inf (a non-finite box, counted)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def _deepscores_categories(data: dict) -> dict[str, Optional[str]]:
    """Map category id (string) -> canonical name for the deepscores set (None: not a DSv2 name)."""
    categories = _require(data, "categories", "json", dict)
    names: dict[str, Optional[str]] = {}
    for cat_id, cat in categories.items():
        where = f"categories[{cat_id!r}]"
        name = _require(cat, "name", where, str)
        if cat.get("annotation_set", DEEPSCORES_SET) != DEEPSCORES_SET:
            continue
        try:
            names[str(cat_id)] = canonical_name(name)
        except UnknownClassError:
            names[str(cat_id)] = None
    return names


def _annotation_table(data: dict) -> dict[str, dict]:
    """Annotations keyed by string id (DSv2 ships a dict; a COCO-like list is also accepted)."""
    anns = _require(data, "annotations", "json", (dict, list))
    if isinstance(anns, dict):
        return {str(k): v for k, v in anns.items()}
    table = {}
    for i, ann in enumerate(anns):
        table[str(_require(ann, "id", f"annotations[{i}]", (int, str)))] = ann
    return table


# --------------------------------------------------------------------------- annotations


def _read_box(ann: dict, where: str, width: int, height: int, skipped: Counter) -> Optional[np.ndarray]:
    """The a_bbox clipped to the page, or None (counted) when it is not a usable box."""
    box = _numbers(ann.get("a_bbox"), 4, f"{where}.a_bbox")
    if not np.all(np.isfinite(box)):
        skipped["box_not_finite"] += 1
        return None
    x0, y0, x1, y1 = box
    if x1 < x0 or y1 < y0:
        skipped["box_inverted"] += 1
        return None
    if x1 == x0 or y1 == y0:
        skipped["box_zero_area"] += 1
        return None
    clipped = np.array([max(x0, 0.0), max(y0, 0.0), min(x1, width), min(y1, height)])
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        skipped["box_outside_page"] += 1
        return None
    if not np.array_equal(clipped, box):
        skipped["box_clipped"] += 1
    return clipped


def _read_obbox(ann: dict, where: str, box: np.ndarray, skipped: Counter) -> np.ndarray:
    """The oriented box as shipped, or the corners of ``box`` when it is absent or unusable."""
    value = ann.get("o_bbox")
    if value is not None:
        obbox = _numbers(value, 8, f"{where}.o_bbox")
        if np.all(np.isfinite(obbox)):
            return obbox
    skipped["obbox_replaced"] += 1
    x0, y0, x1, y1 = box
    return np.array([x1, y1, x1, y0, x0, y0, x0, y1])


def _deepscores_name(
    ann: dict, where: str, cat_names: dict[str, Optional[str]], skipped: Counter
) -> Optional[str]:
    """The canonical class name from the annotation's deepscores ``cat_id`` (None: counted skip)."""
    if "cat_id" not in ann:
        raise DeepScoresFormatError(f"{where}: missing key 'cat_id'")
    cat_ids = ann["cat_id"]
    if not isinstance(cat_ids, (list, tuple)):
        cat_ids = [cat_ids]  # some tools write a bare id
    for cat_id in cat_ids:
        if isinstance(cat_id, (dict, list)) or isinstance(cat_id, bool):
            raise DeepScoresFormatError(f"{where}.cat_id: expected ids, got {str(cat_ids)[:60]}")
        if cat_id is not None and str(cat_id) in cat_names:
            name = cat_names[str(cat_id)]
            if name is None:
                skipped["category_not_dsv2_class"] += 1
            return name
    skipped["unknown_category_id"] += 1
    return None


def _read_page_annotations(
    image: dict, where: str, anns: dict[str, dict], by_image: dict[int, list[str]], image_id: int,
    cat_names: dict[str, Optional[str]], skipped: Counter,
) -> tuple[list, list, list, list, list]:
    """Boxes, oriented boxes, names, ids and comments of one page's usable annotations."""
    width, height = image["width"], image["height"]
    ann_ids = image.get("ann_ids")
    if ann_ids is None:
        ann_ids = by_image.get(image_id, [])
    elif not isinstance(ann_ids, list):
        raise DeepScoresFormatError(f"{where}.ann_ids: expected list, got {type(ann_ids).__name__}")
    rows: tuple[list, list, list, list, list] = ([], [], [], [], [])
    for ann_id in ann_ids:
        ann = anns.get(str(ann_id))
        if ann is None:
            skipped["annotation_id_not_found"] += 1
            continue
        ann_where = f"annotations[{str(ann_id)!r}]"
        if not isinstance(ann, dict):
            raise DeepScoresFormatError(f"{ann_where}: expected an object, got {type(ann).__name__}")
        name = _deepscores_name(ann, ann_where, cat_names, skipped)
        if name is None:
            continue
        box = _read_box(ann, ann_where, width, height, skipped)
        if box is None:
            continue
        comment = ann.get("comments", "")
        rows[0].append(box)
        rows[1].append(_read_obbox(ann, ann_where, box, skipped))
        rows[2].append(name)
        rows[3].append(str(ann_id))
        rows[4].append(comment if isinstance(comment, str) else "" if comment is None else str(comment))
    return rows


def _group_by_image(anns: dict[str, dict]) -> dict[int, list[str]]:
    """Annotation ids per image id, from each annotation's ``img_id`` (used when ann_ids is absent)."""
    groups: dict[int, list[str]] = {}
    for ann_id, ann in anns.items():
        if isinstance(ann, dict) and "img_id" in ann:
            groups.setdefault(_as_int_id(ann["img_id"], f"annotations[{ann_id!r}].img_id"), []).append(ann_id)
    return groups


def _check_image_file(path: Path, width: int, height: int, skipped: Counter) -> bool:
    """True when the page image exists, has a readable header and the JSON's size (else counted).

    Only the header is read here; a file truncated inside its pixel data is caught when the
    page is decoded (``load_page_image``), and the datasets skip such pages there.
    """
    try:
        size = _image_header_size(path)
    except ImageReadError as err:
        reason = "image_missing" if "not found" in str(err) else "image_unreadable"
        _skip_page(skipped, reason, str(err))
        return False
    if size != (width, height):
        _skip_page(skipped, "image_size_mismatch", f"{path} is {size[0]}x{size[1]}, the JSON says {width}x{height}")
        return False
    return True


def _skip_page(skipped: Counter, reason: str, detail: str) -> None:
    """Count a skipped page; the first few of each reason are logged with their file name."""
    skipped[reason] += 1
    if skipped[reason] <= 3:
        log.warning("skipping page (%s): %s", reason, detail)


def _read_page(
    image: Any, index: int, images_dir: Path, anns: dict[str, dict], by_image: dict[int, list[str]],
    cat_names: dict[str, Optional[str]], check_images: bool, skipped: Counter,
) -> Optional[PageAnnotations]:
    """One ``images[]`` entry with its annotations, or None when the page is skipped (counted)."""
    where = f"images[{index}]"
    image_id = _as_int_id(_require(image, "id", where, (int, str)), f"{where}.id")
    filename = _require(image, "filename", where, str)
    width = _require(image, "width", where, int)
    height = _require(image, "height", where, int)
    if width <= 0 or height <= 0:
        raise DeepScoresFormatError(f"{where}: width and height must be > 0, got {width}x{height}")
    path = images_dir / filename
    if check_images and not _check_image_file(path, width, height, skipped):
        return None
    boxes, obboxes, names, ids, comments = _read_page_annotations(
        image, where, anns, by_image, image_id, cat_names, skipped
    )
    return PageAnnotations(
        image_id=image_id,
        filename=filename,
        path=path,
        width=width,
        height=height,
        boxes=np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        obboxes=np.asarray(obboxes, dtype=np.float32).reshape(-1, 8),
        class_names=names,
        ann_ids=ids,
        comments=comments,
    )


def filter_classes(pages: Sequence[PageAnnotations], class_names: Sequence[str]) -> list[PageAnnotations]:
    """Keep only the annotations of ``class_names`` (canonical); pages left empty are kept."""
    wanted = set(class_names)
    return [p.select(np.array([n in wanted for n in p.class_names], dtype=bool)) for p in pages]


def _read_json(json_path: Path) -> dict:
    """Parse the file, turning every way it can fail into one line."""
    try:
        with open(json_path, "rb") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(f"annotation file not found: {json_path}") from None
    except IsADirectoryError:
        raise FileNotFoundError(f"{json_path} is a folder, not an annotation file") from None
    except (ValueError, UnicodeDecodeError) as err:
        reason = str(err).splitlines()[0][:80]
        raise DeepScoresFormatError(f"{json_path}: not valid JSON ({reason})") from None
    if not isinstance(data, dict):
        raise DeepScoresFormatError(f"{json_path}: expected a JSON object, got {type(data).__name__}")
    return data


def parse_deepscores(
    data: dict, json_path: Path, images_dir: Path, classes: Optional[str | Sequence[str]] = None,
    check_images: bool = True,
) -> DeepScoresSplit:
    """Build a ``DeepScoresSplit`` from already-parsed DSv2 JSON (see ``load_deepscores``)."""
    if not isinstance(data, dict):
        raise DeepScoresFormatError(f"json: expected an object, got {type(data).__name__}")
    class_filter = resolve_classes(classes) if classes is not None else None
    cat_names = _deepscores_categories(data)
    anns = _annotation_table(data)
    images = _require(data, "images", "json", list)
    needs_grouping = any(isinstance(i, dict) and "ann_ids" not in i for i in images)
    by_image = _group_by_image(anns) if needs_grouping else {}
    skipped: Counter = Counter()
    pages, seen_ids = [], set()
    for index, image in enumerate(images):
        page = _read_page(image, index, images_dir, anns, by_image, cat_names, check_images, skipped)
        if page is None:
            continue
        if page.image_id in seen_ids:
            skipped["duplicate_image_id"] += 1
            continue
        seen_ids.add(page.image_id)
        pages.append(page)
    counts_all = Counter(n for p in pages for n in p.class_names)
    if class_filter is not None:
        pages = filter_classes(pages, class_filter)
    empty = sum(1 for p in pages if not p.class_names)  # after the filter: what training sees
    if empty:
        skipped["empty_page_kept"] = empty
    return DeepScoresSplit(json_path, pages, skipped, counts_all, class_filter)


def load_deepscores(
    json_path: str | Path,
    images_dir: Optional[str | Path] = None,
    classes: Optional[str | Sequence[str]] = None,
    check_images: bool = True,
    index: Optional[bool] = None,
) -> DeepScoresSplit:
    """Load a DSv2 OBB annotation file and check its page images exist (header only).

    Args:
        json_path: the annotation file (e.g. ``deepscores_train.json``).
        images_dir: folder of the page images; default ``<json dir>/images``.
        classes: a preset name (``"stage2"``) or a list of DSv2 names to keep; None keeps all.
        check_images: read each image header (skip missing/unreadable pages); False trusts the JSON.
        index: read through the on-disk page index (``dsv2_index``: built once by streaming,
            memory independent of the file's size, ``.pages`` read lazily); None = for files of
            ``INDEX_MIN_BYTES`` and more. Same pages, skips and errors either way.

    Raises:
        FileNotFoundError: no such annotation file.
        DeepScoresFormatError: the JSON is not DSv2 OBB (the message names the key).
        UnknownClassError: a class name that is not a DSv2 class (lists the closest names).
    """
    json_path = Path(json_path)
    images_dir = Path(images_dir) if images_dir is not None else json_path.parent / "images"
    split = _load_indexed(json_path, images_dir, classes, check_images, index)
    if split is None:
        split = parse_deepscores(_read_json(json_path), json_path, images_dir, classes, check_images)
    (log.warning if _has_real_skips(split.skipped) else log.info)("DeepScores %s", split.summary())
    return split


def _load_indexed(json_path: Path, images_dir: Path, classes, check_images: bool,
                  index: Optional[bool]) -> Optional[DeepScoresSplit]:
    """The split through the page index, or None when the plain reader should read the file."""
    from detector.data import dsv2_index

    if index is False:
        return None
    class_filter = resolve_classes(classes) if classes is not None else None  # its error comes first
    try:
        size = json_path.stat().st_size
    except FileNotFoundError:
        raise FileNotFoundError(f"annotation file not found: {json_path}") from None
    if not json_path.is_file() or (index is None and size < dsv2_index.INDEX_MIN_BYTES):
        return None
    return dsv2_index.load_indexed(json_path, images_dir, class_filter, check_images)


def _has_real_skips(skipped: Counter) -> bool:
    """Empty pages are expected (kept for evaluation); anything else deserves a warning."""
    return any(v for k, v in skipped.items() if k != "empty_page_kept")
