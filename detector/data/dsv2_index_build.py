"""Building the DSv2 page index: two streaming passes over the JSON, then the join.

Pass 1 reads ``categories`` and ``images`` from the parser's events and stops at the
annotations; pass 2 reads ``annotations`` one at a time (``ijson.kvitems``) and writes each
one's JSON-only verdicts (class, box and oriented-box checks, in the plain reader's order)
to column files. The join then takes every page's annotations in page order, applies what
depends on the page (clipping to its size) and writes the index's columns. See
``dsv2_index`` for the layout and for what is decided here versus at each load.
"""
from __future__ import annotations

import array
import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from detector.data import dsv2_index as index_module
from detector.data.classes import DSV2_CLASS_NAMES
from detector.data.dsv2_index import (_PAGE_ANN_ERROR, _PAGE_FIELD_ERROR, _PAGE_OK, REASONS, StreamFallback,
                                      _Col, _gather, _map, _source_facts)

_R = {name: i for i, name in enumerate(REASONS)}

# class codes (>= 0: index into DSV2_CLASS_NAMES)
_UNKNOWN, _NOT_DSV2, _NAME_ERROR, _NOT_DICT, _NULL = -1, -2, -3, -4, -5  # _NULL: a null value, "not found"
# box / oriented box status
_OK, _NOT_FINITE, _INVERTED, _ZERO, _ERROR, _REPLACE = 0, 1, 2, 3, 4, 5
# how a page names its annotations
_REFS_LIST, _REFS_MISSING, _REFS_NULL = 0, 1, 2

_BLOCK = 4096  # rows between two fences of the key lookup
_HASHED = np.int64(-(1 << 62))  # hashed (non-decimal) ids live below this; decimal ids are >= 0
_NO_IMG = np.iinfo(np.int64).min
_INT64_MIN, _INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)


class _Column:
    """An append-only typed column written to a file in chunks (bounded memory)."""

    def __init__(self, path: Path, typecode: str) -> None:
        self.path = path
        self.file = open(path, "wb")
        self.buffer = array.array(typecode)
        self.typecode = typecode
        self.count = 0

    def append(self, value) -> None:
        self.buffer.append(value)
        if len(self.buffer) >= 1 << 16:
            self.flush()

    def extend(self, values) -> None:
        self.buffer.extend(values)
        if len(self.buffer) >= 1 << 16:
            self.flush()

    def write(self, values: np.ndarray) -> None:
        """Append a numpy array (cast to the column's type) straight to the file."""
        self.flush()
        values = np.ascontiguousarray(values, dtype=np.dtype(self.typecode))
        values.tofile(self.file)
        self.count += values.size

    def flush(self) -> None:
        if len(self.buffer):
            self.count += len(self.buffer)
            self.buffer.tofile(self.file)
            self.buffer = array.array(self.typecode)

    def close(self) -> None:
        self.flush()
        self.file.close()


class _Strings:
    """Append-only UTF-8 strings: a blob file and an int64 offsets column."""

    def __init__(self, folder: Path, name: str) -> None:
        self.blob = open(folder / f"{name}_blob.bin", "wb")
        self.offsets = _Column(folder / f"{name}_off.bin", "q")
        self.offsets.append(0)
        self.end = 0

    def append(self, text: str) -> None:
        self.extend([text])

    def extend(self, texts: list[str]) -> None:
        """Append many strings (one encode for an all-ASCII batch)."""
        joined = "".join(texts)
        if joined.isascii():
            self.extend_bytes(joined.encode("ascii"), np.fromiter(map(len, texts), np.int64, len(texts)))
        else:
            data = [t.encode("utf-8", "surrogatepass") for t in texts]
            self.extend_bytes(b"".join(data), np.fromiter(map(len, data), np.int64, len(data)))

    def extend_bytes(self, data: bytes, lengths: np.ndarray) -> None:
        """Append strings already encoded: ``data`` is their concatenation, ``lengths`` their sizes."""
        self.blob.write(data)
        self.offsets.write(self.end + np.cumsum(lengths, dtype=np.int64))
        self.end += len(data)

    def close(self) -> None:
        self.blob.close()
        self.offsets.close()


def _key(text: str) -> int:
    """A join key: the number for a canonical decimal id, else a 62-bit hash below ``_HASHED``."""
    if text.isdigit() and text.isascii() and len(text) < 18 and (text[0] != "0" or text == "0"):
        return int(text)
    data = text.encode("utf-8", "surrogatepass")
    digest = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")
    return int(_HASHED) - 1 - (digest >> 2)


def _keys(texts: list[str]) -> np.ndarray:
    """``_key`` of many ids; canonical decimal ids (DSv2's) in one C-speed pass."""
    joined = "".join(texts)
    if joined.isdigit() and joined.isascii() and all(texts):
        numbers = list(map(int, texts))
        if max(map(len, texts)) < 18 and list(map(str, numbers)) == texts:
            return np.array(numbers, dtype=np.int64)
    return np.array([_key(t) for t in texts], dtype=np.int64)


def _value(event: str, value: Any, events: Iterator) -> Any:
    """The JSON value that starts with ``(event, value)``, built from the following events."""
    if event not in ("start_map", "start_array"):
        return value
    import ijson

    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth = 1
    for _, ev, val in events:
        builder.event(ev, val)
        if ev in ("start_map", "start_array"):
            depth += 1
        elif ev in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return builder.value
    raise StreamFallback("unexpected end of the JSON")


def _skip(event: str, events: Iterator) -> None:
    if event not in ("start_map", "start_array"):
        return
    depth = 1
    for _, ev, _ in events:
        if ev in ("start_map", "start_array"):
            depth += 1
        elif ev in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                return


class _Builder:
    """One build: the two streaming passes, then the join into page order."""

    def __init__(self, json_path: Path, work: Path, out: Path) -> None:
        self.json_path = json_path
        self.work = work
        self.out = out
        self.cat_codes: dict[str, int] = {}
        self.errors: dict[int, tuple[int, str]] = {}  # page -> (status, message)
        self.ann_errors: dict[tuple[int, int], str] = {}  # (row, stage) -> message
        self.img_id_error: Optional[str] = None
        self.pages: list[tuple] = []  # per page: (image_id, width, height, refs kind) — small
        self.annotations_kind: Optional[str] = None

    # ---- pass A: categories and images (stops at the annotations when both are read)

    def read_header(self) -> None:
        import ijson

        from detector.data.deepscores import _deepscores_categories

        self.refs = _Column(self.work / "ref_key.bin", "q")  # one key per ``ann_ids`` entry
        self.ref_off = _Column(self.work / "page_ref.bin", "q")  # page -> its range of refs
        self.ref_off.append(0)
        self.ref_text = _Strings(self.work, "ref")
        self.filenames = _Strings(self.work, "filename")
        categories = images_done = None
        with open(self.json_path, "rb") as fh:
            events = ijson.parse(fh, use_float=True)
            first = next(events, None)
            if first is None or first[1] != "start_map":
                raise StreamFallback("not an object")
            for prefix, event, value in events:
                if prefix != "" or event != "map_key":
                    break  # the end of the top-level object
                key = value
                _, event, value = next(events)
                if key == "categories" and categories is None:
                    categories = _value(event, value, events)
                elif key == "images" and images_done is None:
                    if event != "start_array":
                        raise StreamFallback("images is not a list")
                    self._read_images(events)
                    images_done = True
                elif key == "annotations" and self.annotations_kind is None:
                    self.annotations_kind = event
                    if categories is not None and images_done:
                        break
                    _skip(event, events)
                elif key in ("categories", "images", "annotations"):
                    raise StreamFallback(f"repeated top-level key {key}")
                else:
                    _skip(event, events)
        if categories is None or not images_done or self.annotations_kind is None:
            raise StreamFallback("a top-level key is missing")
        if not isinstance(categories, dict):
            raise StreamFallback("categories is not an object")
        try:
            names = _deepscores_categories({"categories": categories})
        except Exception as err:  # the plain reader raises it, after parsing the whole file
            raise StreamFallback(str(err)) from None
        code_of = {n: i for i, n in enumerate(DSV2_CLASS_NAMES)}
        self.cat_codes = {k: (code_of[v] if v is not None else _NOT_DSV2) for k, v in names.items()}
        for column in (self.refs, self.ref_off, self.ref_text, self.filenames):
            column.close()

    def _read_images(self, events: Iterator) -> None:
        from detector.data.deepscores import DeepScoresFormatError, _as_int_id, _require

        for index, (_, event, value) in enumerate(events):
            if event == "end_array":
                return
            image = _value(event, value, events)
            where = f"images[{index}]"
            try:
                image_id = _as_int_id(_require(image, "id", where, (int, str)), f"{where}.id")
                filename = _require(image, "filename", where, str)
                width = _require(image, "width", where, int)
                height = _require(image, "height", where, int)
                if width <= 0 or height <= 0:
                    raise DeepScoresFormatError(
                        f"{where}: width and height must be > 0, got {width}x{height}")
            except DeepScoresFormatError as err:
                self.errors[len(self.pages)] = (_PAGE_FIELD_ERROR, str(err))
                self.pages.append((0, 1, 1, _REFS_LIST))
                self.filenames.append("")
                self.ref_off.append(self.refs.count + len(self.refs.buffer))
                continue
            if not all(_INT64_MIN < v < _INT64_MAX for v in (image_id, width, height)):
                raise StreamFallback("an id or size beyond 64 bits")
            self.filenames.append(filename)
            if "ann_ids" not in image:
                kind = _REFS_MISSING
            elif image["ann_ids"] is None:
                kind = _REFS_NULL
            else:
                kind = _REFS_LIST
                ann_ids = image["ann_ids"]
                if not isinstance(ann_ids, list):
                    message = f"{where}.ann_ids: expected list, got {type(ann_ids).__name__}"
                    self.errors[len(self.pages)] = (_PAGE_ANN_ERROR, message)
                elif ann_ids:
                    texts = [a if type(a) is str else str(a) for a in ann_ids]
                    self.refs.write(_keys(texts))
                    self.ref_text.extend(texts)
            self.pages.append((image_id, width, height, kind))
            self.ref_off.append(self.refs.count + len(self.refs.buffer))

    # ---- pass B: the annotations, in file order, to columns on disk

    def read_annotations(self) -> None:
        import ijson

        from detector.data.deepscores import DeepScoresFormatError, _require

        self.row_cols = {name: _Column(self.work / f"row_{name}.bin", code) for name, code in (
            ("key", "q"), ("code", "h"), ("box_status", "b"), ("box", "d"), ("obb_status", "b"),
            ("obb", "d"), ("img", "q"))}
        self.row_text = _Strings(self.work, "row")
        self.row_comment = _Strings(self.work, "comment")
        self.rows = 0
        with open(self.json_path, "rb") as fh:
            if self.annotations_kind == "start_map":
                pairs = ijson.kvitems(fh, "annotations", use_float=True)
            elif self.annotations_kind == "start_array":
                def listed(items):
                    for i, ann in enumerate(items):
                        try:
                            yield str(_require(ann, "id", f"annotations[{i}]", (int, str))), ann
                        except DeepScoresFormatError as err:
                            raise StreamFallback(str(err)) from None

                pairs = listed(ijson.items(fh, "annotations.item", use_float=True))
            else:
                raise StreamFallback("annotations is neither an object nor a list")
            chunk: list = []
            for pair in pairs:
                chunk.append(pair)
                if len(chunk) == 1 << 14:
                    self._rows(chunk)
                    chunk = []
            self._rows(chunk)
        for column in (*self.row_cols.values(), self.row_text, self.row_comment):
            column.close()

    def _rows(self, pairs: list) -> None:
        """Verdicts of a batch of annotations, written to the row columns.

        The common DSv2 shape (string category ids, float boxes, a string ``img_id``) is read
        inline; anything else goes through :meth:`_annotation`, the plain reader's checks.
        """
        if not pairs:
            return
        keys = [k for k, _ in pairs]
        codes, box_status, boxes, obb_status, obbs, imgs, comments = [], [], [], [], [], [], []
        cat_get = self.cat_codes.get
        floats4, floats8, zeros4 = (float,) * 4, (float,) * 8, (0.0,) * 4
        for i, (key, ann) in enumerate(pairs):
            row = None
            if type(ann) is dict:
                cat, box, obb = ann.get("cat_id"), ann.get("a_bbox"), ann.get("o_bbox")
                img, comment = ann.get("img_id"), ann.get("comments", "")
                if (type(cat) is list and type(box) is list and type(obb) is list and type(comment) is str
                        and type(img) is str and img.isdigit() and img.isascii() and len(img) < 18
                        and tuple(map(type, box)) == floats4 and tuple(map(type, obb)) == floats8):
                    code, plain = _UNKNOWN, True
                    for c in cat:
                        if type(c) is not str:
                            plain = False
                            break
                        found = cat_get(c)
                        if found is not None:
                            code = found
                            break
                    x0, y0, x1, y1 = box
                    total, obb_total = x0 + y0 + x1 + y1, sum(obb)
                    if plain and total - total == 0.0 and obb_total - obb_total == 0.0:  # all finite
                        status = (_INVERTED if x1 < x0 or y1 < y0 else _ZERO if x1 == x0 or y1 == y0
                                  else _OK)
                        row = (code, status, box if status == _OK else zeros4, _OK, obb, int(img), comment)
            if row is None:
                row = self._annotation(key, ann, self.rows + i)
            codes.append(row[0])
            box_status.append(row[1])
            boxes.extend(row[2])
            obb_status.append(row[3])
            obbs.extend(row[4])
            imgs.append(row[5])
            comments.append(row[6])
        self.rows += len(pairs)
        cols = self.row_cols
        cols["key"].write(_keys(keys))
        cols["code"].write(np.array(codes, dtype=np.int16))
        cols["box_status"].write(np.array(box_status, dtype=np.int8))
        cols["box"].write(np.array(boxes, dtype=np.float64))
        cols["obb_status"].write(np.array(obb_status, dtype=np.int8))
        cols["obb"].write(np.array(obbs, dtype=np.float64))
        cols["img"].write(np.array(imgs, dtype=np.int64))
        self.row_text.extend(keys)
        self.row_comment.extend(comments)

    def _annotation(self, key: str, ann: Any, row: int) -> tuple:
        """One annotation's JSON-only verdicts (the plain reader's checks, in its order):
        ``(class code, box status, box [4], oriented box status, oriented box [8], img_id, comment)``.
        """
        from detector.data.deepscores import DeepScoresFormatError, _as_int_id

        if ann is None:  # the plain reader's ``anns.get(id)`` cannot tell it from a missing id
            return _NULL, _ERROR, (0.0,) * 4, _ERROR, (0.0,) * 8, int(_NO_IMG), ""
        if type(ann) is not dict:
            self.ann_errors[(row, 0)] = f"annotations[{key!r}]: expected an object, got {type(ann).__name__}"
            return _NOT_DICT, _ERROR, (0.0,) * 4, _ERROR, (0.0,) * 8, int(_NO_IMG), ""
        code = self._class_code(key, ann, row)
        box_status, box = self._box(key, ann, row)
        obb_status, obb = self._obbox(key, ann, row)
        img = int(_NO_IMG)
        if "img_id" in ann:
            try:
                img = _as_int_id(ann["img_id"], f"annotations[{key!r}].img_id")
            except DeepScoresFormatError as err:
                if self.img_id_error is None:
                    self.img_id_error = str(err)
            if not _INT64_MIN < img < _INT64_MAX:
                raise StreamFallback("an img_id beyond 64 bits")
        comment = ann.get("comments", "")
        comment = comment if isinstance(comment, str) else "" if comment is None else str(comment)
        return (code, box_status, box if box is not None else (0.0,) * 4, obb_status,
                obb if obb is not None else (0.0,) * 8, img, comment)

    def _class_code(self, key: str, ann: dict, row: int) -> int:
        if "cat_id" not in ann:
            self.ann_errors[(row, 1)] = f"annotations[{key!r}]: missing key 'cat_id'"
            return _NAME_ERROR
        cat_ids = ann["cat_id"]
        if not isinstance(cat_ids, (list, tuple)):
            cat_ids = [cat_ids]
        for cat_id in cat_ids:
            if isinstance(cat_id, (dict, list)) or isinstance(cat_id, bool):
                self.ann_errors[(row, 1)] = (f"annotations[{key!r}].cat_id: expected ids, "
                                             f"got {str(cat_ids)[:60]}")
                return _NAME_ERROR
            if cat_id is not None:
                code = self.cat_codes.get(cat_id if type(cat_id) is str else str(cat_id))
                if code is not None:
                    return code
        return _UNKNOWN

    @staticmethod
    def _numbers(value: Any, count: int) -> Optional[list]:
        if type(value) is not list or len(value) != count:
            return None
        out = []
        for v in value:
            t = type(v)
            if t is float:
                out.append(v)
            elif t is int:
                try:
                    out.append(float(v))
                except OverflowError:
                    out.append(math.inf)
            else:
                return None
        return out

    def _box(self, key: str, ann: dict, row: int) -> tuple[int, Optional[list]]:
        value = ann.get("a_bbox")
        box = self._numbers(value, 4)
        if box is None:
            self.ann_errors[(row, 2)] = (f"annotations[{key!r}].a_bbox: expected a list of 4 numbers, "
                                         f"got {str(value)[:60]}")
            return _ERROR, None
        x0, y0, x1, y1 = box
        if not (math.isfinite(x0) and math.isfinite(y0) and math.isfinite(x1) and math.isfinite(y1)):
            return _NOT_FINITE, None
        if x1 < x0 or y1 < y0:
            return _INVERTED, None
        if x1 == x0 or y1 == y0:
            return _ZERO, None
        return _OK, box

    def _obbox(self, key: str, ann: dict, row: int) -> tuple[int, Optional[list]]:
        value = ann.get("o_bbox")
        if value is None:
            return _REPLACE, None
        obb = self._numbers(value, 8)
        if obb is None:
            self.ann_errors[(row, 3)] = (f"annotations[{key!r}].o_bbox: expected a list of 8 numbers, "
                                         f"got {str(value)[:60]}")
            return _ERROR, None
        if all(math.isfinite(v) for v in obb):
            return _OK, obb
        return _REPLACE, None

    # ---- the join: every page's annotations in page order, checked against its size

    def join(self) -> dict:
        work, out = self.work, self.out
        n_rows = self.rows
        row = {name: _map(work, f"row_{name}", dtype, width) for name, dtype, width in (
            ("key", "<i8", 1), ("code", "<i2", 1), ("box_status", "i1", 1), ("box", "<f8", 4),
            ("obb_status", "i1", 1), ("obb", "<f8", 8), ("img", "<i8", 1))}
        row_text_off, row_text_blob = _map(work, "row_off", "<i8", 1), _map(work, "row_blob", "u1", 1)
        comment_off, comment_blob = _map(work, "comment_off", "<i8", 1), _map(work, "comment_blob", "u1", 1)
        ref_key, ref_off = _map(work, "ref_key", "<i8", 1), _map(work, "page_ref", "<i8", 1, in_memory=True)
        ref_text_off, ref_text_blob = _map(work, "ref_off", "<i8", 1), _map(work, "ref_blob", "u1", 1)
        table = self._lookup_table(row["key"], n_rows)
        needs_grouping = any(kind == _REFS_MISSING for *_, kind in self.pages)
        if needs_grouping and self.img_id_error is not None:
            raise StreamFallback(self.img_id_error)
        by_image = self._image_groups(row["img"]) if needs_grouping else None

        cols = {name: _Column(out / f"{name}.bin", code) for name, code in (
            ("boxes", "f"), ("obboxes", "f"), ("classes", "h"), ("image_id", "q"), ("size", "q"),
            ("start", "q"), ("status", "b"), ("skips", "i"))}
        ann_ids, comments = _Strings(out, "ann_id"), _Strings(out, "comment")
        filenames_in = (_map(work, "filename_off", "<i8", 1, True), _map(work, "filename_blob", "u1", 1))
        filenames = _Strings(out, "filename")
        cols["start"].append(0)
        total = 0
        for page, (image_id, width, height, kind) in enumerate(self.pages):
            filenames.extend_bytes(*_gather(filenames_in[1], filenames_in[0], np.array([page])))
            a, b = int(ref_off[page]), int(ref_off[page + 1])
            skips = np.zeros(len(REASONS), dtype=np.int32)
            status = self.errors.get(page, (_PAGE_OK, ""))[0]
            kept = np.zeros(0, dtype=np.int64)
            if status == _PAGE_OK:
                if kind == _REFS_LIST:
                    keys = np.asarray(ref_key[a:b])
                    rows = self._find(keys, table, n_rows)
                    self._check_hashed(keys, rows, np.arange(a, b), (ref_text_blob, ref_text_off),
                                       (row_text_blob, row_text_off))
                    names = (ref_text_blob, ref_text_off, np.arange(a, b))  # the ids as the page lists them
                elif kind == _REFS_MISSING or needs_grouping:
                    rows = by_image(image_id)
                    names = (row_text_blob, row_text_off, rows)
                else:
                    rows = np.zeros(0, dtype=np.int64)
                    names = (row_text_blob, row_text_off, rows)
                keep, boxes, obbs, error = self._verdicts(rows, row, width, height, skips)
                if error is not None:
                    self.errors[page] = (_PAGE_ANN_ERROR, error)
                    status = _PAGE_ANN_ERROR
                else:
                    kept = rows[keep]
                    cols["boxes"].write(boxes.astype(np.float32))
                    cols["obboxes"].write(obbs.astype(np.float32))
                    cols["classes"].write(np.asarray(row["code"][kept]))
                    ann_ids.extend_bytes(*_gather(names[0], names[1], names[2][keep]))
                    comments.extend_bytes(*_gather(comment_blob, comment_off, kept))
            total += len(kept)
            cols["start"].append(total)
            cols["image_id"].append(image_id)
            cols["size"].extend((width, height))
            cols["status"].append(status)
            cols["skips"].extend(skips.tolist())
        for column in (*cols.values(), ann_ids, comments, filenames):
            column.close()
        return {"pages": len(self.pages), "boxes": total,
                "errors": {str(p): msg for p, (_, msg) in sorted(self.errors.items())}}

    @staticmethod
    def _lookup_table(keys: _Col, n_rows: int) -> tuple:
        """How to find the row of a key.

        ``("fences", every 4096th key, keys)`` when the ids increase in file order (DSv2 and
        the generator write them so): a lookup reads one 32 KB block, memory 2 bytes a row.
        Otherwise ``("sorted", sorted keys, rows)``: 16 bytes a row in memory.
        """
        fences, previous = [], None
        for lo in range(0, n_rows, 1 << 20):  # a multiple of _BLOCK
            chunk = keys.range(lo, lo + (1 << 20))
            if (previous is not None and chunk[0] <= previous) or np.any(chunk[1:] <= chunk[:-1]):
                break
            previous = chunk[-1]
            fences.append(chunk[::_BLOCK].copy())  # a copy: a view would keep the whole chunk alive
        else:
            return "fences", np.concatenate(fences) if fences else np.zeros(0, dtype=np.int64), keys
        all_keys = keys.range(0, n_rows)
        order = np.argsort(all_keys, kind="stable")
        sorted_keys = all_keys[order]
        if np.any(sorted_keys[1:] == sorted_keys[:-1]):
            raise StreamFallback("repeated annotation ids")  # json.load keeps the last; rare
        return "sorted", sorted_keys, order

    @staticmethod
    def _find(keys: np.ndarray, table: tuple, n_rows: int) -> np.ndarray:
        """The row of each key, -1 where there is none."""
        rows = np.full(len(keys), -1, dtype=np.int64)
        if n_rows == 0 or len(keys) == 0:
            return rows
        kind, first, second = table
        if kind == "sorted":
            pos = np.minimum(np.searchsorted(first, keys), n_rows - 1)
            return np.where(first[pos] == keys, second[pos], -1).astype(np.int64)
        blocks = np.maximum(np.searchsorted(first, keys, side="right") - 1, 0)
        for block in np.unique(blocks).tolist():
            sel = blocks == block
            lo = block * _BLOCK
            block_keys = second.range(lo, lo + _BLOCK)
            pos = np.minimum(np.searchsorted(block_keys, keys[sel]), len(block_keys) - 1)
            rows[sel] = np.where(block_keys[pos] == keys[sel], lo + pos, -1)
        return rows

    @staticmethod
    def _check_hashed(keys, rows, refs, ref_text, row_text) -> None:
        """A hashed key matches only the same string: a 62-bit collision hands the file on."""
        hashed = np.flatnonzero((keys < _HASHED) & (rows >= 0))
        if len(hashed):
            listed, stored = _gather(*ref_text, refs[hashed]), _gather(*row_text, rows[hashed])
            if listed[0] != stored[0] or not np.array_equal(listed[1], stored[1]):
                raise StreamFallback("annotation id hash collision")

    def _image_groups(self, img: _Col):
        """``image_id -> rows`` in file order, for pages without ``ann_ids`` (grouped by ``img_id``).

        Only for such files: 16 bytes a row in memory.
        """
        img = img.range(0, len(img))
        order = np.argsort(img, kind="stable")
        sorted_img = img[order]

        def rows(image_id: int) -> np.ndarray:
            lo, hi = np.searchsorted(sorted_img, [image_id, image_id + 1])
            return order[lo:hi].astype(np.int64)

        return rows

    def _verdicts(self, rows: np.ndarray, row: dict, width: int, height: int, skips: np.ndarray):
        """(kept mask, clipped boxes [K,4] f64, oriented boxes [K,8] f64, first error or None)."""
        n = len(rows)
        exists = rows >= 0
        if not exists.any():
            skips[_R["annotation_id_not_found"]] += n
            return exists, np.zeros((0, 4)), np.zeros((0, 8)), None
        present = rows[exists]  # read only the rows that exist: one close-together read each

        def gather(name: str, fill, width: int = 1) -> np.ndarray:
            out = np.full((n, width) if width > 1 else n, fill, dtype=np.float64 if width > 1 else np.int64)
            out[exists] = row[name][present]
            return out

        code = gather("code", _UNKNOWN)
        found = exists & (code != _NULL)  # a null annotation counts as not found, as in the plain reader
        box_status = gather("box_status", _ERROR)
        obb_status = gather("obb_status", _ERROR)
        box = gather("box", 0.0, 4)
        named = found & (code >= 0)
        boxed = named & (box_status == _OK)
        clipped = np.stack([np.maximum(box[:, 0], 0.0), np.maximum(box[:, 1], 0.0),
                            np.minimum(box[:, 2], width), np.minimum(box[:, 3], height)], axis=1)
        inside = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
        placed = boxed & inside
        error = found & ((code == _NOT_DICT) | (code == _NAME_ERROR) | (named & (box_status == _ERROR))
                         | (placed & (obb_status == _ERROR)))
        if error.any():
            i = int(np.argmax(error))
            stage = 0 if code[i] == _NOT_DICT else 1 if code[i] == _NAME_ERROR else \
                2 if box_status[i] == _ERROR else 3
            return None, None, None, self.ann_errors[(int(rows[i]), stage)]
        skips[_R["annotation_id_not_found"]] += int(np.count_nonzero(~found))
        skips[_R["unknown_category_id"]] += int(np.count_nonzero(found & (code == _UNKNOWN)))
        skips[_R["category_not_dsv2_class"]] += int(np.count_nonzero(found & (code == _NOT_DSV2)))
        for reason, value in (("box_not_finite", _NOT_FINITE), ("box_inverted", _INVERTED),
                              ("box_zero_area", _ZERO)):
            skips[_R[reason]] += int(np.count_nonzero(named & (box_status == value)))
        skips[_R["box_outside_page"]] += int(np.count_nonzero(boxed & ~inside))
        skips[_R["box_clipped"]] += int(np.count_nonzero(placed & np.any(clipped != box, axis=1)))
        replace = placed & (obb_status == _REPLACE)
        skips[_R["obbox_replaced"]] += int(np.count_nonzero(replace))
        obb = gather("obb", 0.0, 8)
        x0, y0, x1, y1 = clipped.T
        corners = np.stack([x1, y1, x1, y0, x0, y0, x0, y1], axis=1)
        obb = np.where(replace[:, None], corners, obb)
        return placed, clipped[placed], obb[placed], None


def build(json_path: Path, folder: Path) -> dict:
    """Stream ``json_path`` into a new index at ``folder`` (replacing a stale one); returns its meta.

    Raises:
        StreamFallback: the plain reader must read this file (see the module docstring).
        DeepScoresFormatError: a large file that is not valid JSON (the parser's first line).
    """
    import ijson

    from detector.data.deepscores import DeepScoresFormatError

    json_path = Path(json_path)
    source = _source_facts(json_path)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.build-"))
    try:
        work = tmp / "work"
        work.mkdir()
        builder = _Builder(json_path, work, tmp)
        try:
            builder.read_header()
            builder.read_annotations()
        except ijson.JSONError as err:
            if source["size"] <= index_module.PLAIN_FALLBACK_MAX_BYTES:
                raise StreamFallback(str(err)) from None
            reason = str(err).splitlines()[0][:80] if str(err) else type(err).__name__
            raise DeepScoresFormatError(f"{json_path}: not valid JSON ({reason})") from None
        facts = builder.join()
        shutil.rmtree(work)
        meta = {"version": index_module.INDEX_VERSION, "source": source,
                "class_names": list(DSV2_CLASS_NAMES), **facts}
        (tmp / "meta.json").write_text(json.dumps(meta))
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{os.getpid()}"
            os.rename(folder, old)
            os.rename(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, folder)
        return meta
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
