"""A DSv2 annotation file converted once, streaming, into an on-disk page index read page by page.

``json.load`` of a DSv2 file holds the whole document as Python objects: about 2 KB per box,
so 1.5 GB for a 745k-box file and a few hundred GB for the full DeepScoresV2. This module
reads the JSON with an incremental parser (ijson, C backend) and writes the pages, as the
plain reader (``deepscores.parse_deepscores``) would return them, into flat arrays on disk.
Later loads read a page's rows of those arrays when the page is asked for.

Why flat binary columns read by position (numpy arrays on disk), not SQLite or Parquet:

- opening loads only the page-sized columns (~70 bytes a page) and a page is a few contiguous
  ``pread`` calls (no per-row Python objects, no query, no connection to reopen in each
  DataLoader worker: positional reads on a shared descriptor are fork-safe);
- the whole-file facts a load needs (per-class counts, empty pages after a class filter)
  are a chunked vectorised pass over a 2-byte class column;
- resident memory stays flat: a memory map would be as fast, but every page it touched
  would stay counted in the process's resident memory, growing with the file;
- SQLite would build a B-tree per insert and return rows as tuples; Parquet needs pyarrow
  (~100 MB) and reads by row group, not by page. Here nothing but the parser is added,
  and there is no schema to migrate: raw ``<name>.bin`` arrays described in ``meta.json``.

Layout of ``<json name>.index/`` beside the JSON (or, when that folder is read-only, under
``$XDG_CACHE_HOME/omr-detector/dsv2-index/``): ``meta.json`` (format version, the JSON's
size and mtime, class names, per-page errors), page columns (image id, size, first box,
status, per-page skip counts, file name) and box columns (``boxes`` [M,4] float32,
``obboxes`` [M,8] float32, ``classes`` [M] int16, annotation ids and comments as UTF-8
blobs with offsets). The index is rebuilt when the JSON's size, mtime, inode or the hash of
its first and last 64 KB changes, or the format version does; it is built in a temporary
folder and renamed into place, under a lock.

Same pages, skips and errors as the plain reader: the JSON-only part (box checks, clipping,
category names) is decided at build time and stored per page, with its skip counts; what
depends on the disk or the caller (image checks, duplicate ids among readable pages, the
class filter) is decided at every load, in page order, exactly as the plain reader does.
A page whose JSON is malformed stores its one-line error, raised when the load reaches it.
Files the stream cannot reproduce exactly (a wrong top-level structure, duplicate
annotation ids, NaN/Infinity or other non-standard JSON) are handed to the plain reader,
which gives today's result or one-line error; a large file that is not valid JSON at all
gets the parser's one-line error instead of a ``json.load`` of the whole file.

Memory while building: a few MB of buffers and every 4096th annotation id (to find a page's
annotations by id: 2 KB per million annotations); only when the ids do not increase in file
order (DSv2 and the generator write them increasing) or pages lack ``ann_ids``, a sort key of
16 bytes per annotation. The file is parsed twice: categories and images (up to the
annotations), then the annotations.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections import Counter
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np

#: Bump when the layout or what is stored changes: older indexes are rebuilt.
INDEX_VERSION = 1
#: ``load_deepscores`` uses the index for files at least this big (smaller ones parse in < 1 s).
INDEX_MIN_BYTES = 8 << 20
#: Files up to this size that the stream rejects are re-read by ``json.load`` for its exact message.
PLAIN_FALLBACK_MAX_BYTES = 64 << 20

#: Per-annotation skip reasons, the columns of the per-page skip counts.
REASONS = ("annotation_id_not_found", "unknown_category_id", "category_not_dsv2_class",
           "box_not_finite", "box_inverted", "box_zero_area", "box_outside_page", "box_clipped",
           "obbox_replaced")
_R = {name: i for i, name in enumerate(REASONS)}

# page status (stored per page)
_PAGE_OK, _PAGE_FIELD_ERROR, _PAGE_ANN_ERROR = 0, 1, 2


class StreamFallback(Exception):
    """The stream cannot reproduce the plain reader on this file: read it with ``json.load``."""


# --------------------------------------------------------------------------- where it lives


def index_dir(json_path: Path) -> Path:
    """``<json>.index/`` beside the JSON, or a cache folder when the JSON's folder is read-only."""
    json_path = Path(json_path)
    beside = json_path.parent / f"{json_path.name}.index"
    if os.access(json_path.parent, os.W_OK):
        return beside
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "omr-detector" / "dsv2-index"
    digest = hashlib.sha1(str(json_path.resolve()).encode()).hexdigest()[:16]
    return cache / f"{json_path.name}.{digest}.index"


def _source_facts(json_path: Path) -> dict:
    """What identifies the JSON's content cheaply: size, mtime, inode and a hash of both ends.

    mtime alone ticks in jiffies (a few ms): a same-size rewrite within one tick would look
    unchanged; the first and last 64 KB hashed catch that for the header and the tail.
    """
    st = json_path.stat()
    digest = hashlib.blake2b(digest_size=16)
    with open(json_path, "rb") as fh:
        digest.update(fh.read(1 << 16))
        if st.st_size > 1 << 17:
            fh.seek(-(1 << 16), os.SEEK_END)
        digest.update(fh.read(1 << 16))
    return {"name": json_path.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino,
            "ends": digest.hexdigest()}


def _fresh(folder: Path, json_path: Path) -> Optional[dict]:
    """The index's meta when it exists and matches the JSON (size, mtime, version), else None."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, ValueError):
        return None
    if meta.get("version") != INDEX_VERSION or meta.get("source") != _source_facts(json_path):
        return None
    return meta


# --------------------------------------------------------------------------- the index, read


_BOX_COLUMNS = {"boxes": ("<f4", 4), "obboxes": ("<f4", 8), "classes": ("<i2", 1),
                "ann_id_off": ("<i8", 1), "ann_id_blob": ("u1", 1),
                "comment_off": ("<i8", 1), "comment_blob": ("u1", 1)}
_PAGE_COLUMNS = {"image_id": ("<i8", 1), "size": ("<i8", 2), "start": ("<i8", 1), "status": ("i1", 1),
                 "skips": ("<i4", len(REASONS)), "filename_off": ("<i8", 1), "filename_blob": ("u1", 1)}


class _Col:
    """A column file read with positional reads: only what a call asks for is ever in memory.

    (Mapping the files would be as fast, but every page touched stays counted in the process's
    resident memory; ``pread`` keeps it flat whatever the file's size.) Supports ``len``,
    ``col[i]``, ``col[lo:hi]`` and ``col[rows]`` (an integer array) like a numpy array.
    """

    def __init__(self, path: Path, dtype: str, width: int) -> None:
        self.path = Path(path)
        self.dtype = np.dtype(dtype)
        self.width = width
        self.row_bytes = self.dtype.itemsize * width
        # opened now: a rebuild that renames a new index into place later cannot mix files
        self._fd: Optional[int] = os.open(self.path, os.O_RDONLY)
        self.length = os.fstat(self._fd).st_size // self.row_bytes

    def __len__(self) -> int:
        return self.length

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_fd": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._fd = os.open(self.path, os.O_RDONLY)

    def __del__(self) -> None:
        if getattr(self, "_fd", None) is not None:
            os.close(self._fd)

    def _shape(self, n: int) -> tuple:
        return (n, self.width) if self.width > 1 else (n,)

    def range(self, lo: int, hi: int) -> np.ndarray:
        """Rows ``lo:hi`` (clipped to the column), one read."""
        lo, hi = max(int(lo), 0), min(int(hi), self.length)
        out = np.empty(self._shape(max(hi - lo, 0)), dtype=self.dtype)
        if hi > lo:
            done = os.preadv(self._fd, [out], lo * self.row_bytes)
            if done != out.nbytes:
                raise OSError(f"{self.path}: short read ({done} of {out.nbytes} bytes); rebuild the index")
        return out

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The given rows: one read when they are close together, else a read per row."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return np.empty(self._shape(0), dtype=self.dtype)
        lo, hi = int(rows.min()), int(rows.max()) + 1
        if hi - lo <= 4 * len(rows) + 1024:
            return self.range(lo, hi)[rows - lo]
        return np.concatenate([self.range(r, r + 1) for r in rows.tolist()])

    def __getitem__(self, item):
        if isinstance(item, slice):
            if item.step not in (None, 1):
                raise IndexError("column slices take no step")
            lo, hi, _ = item.indices(self.length)
            return self.range(lo, hi)
        if isinstance(item, (int, np.integer)):
            if not -self.length <= item < self.length:
                raise IndexError(f"row {item} of {self.length}")
            return self.range(item % self.length, item % self.length + 1)[0]
        return self.take(item)


def _map(folder: Path, name: str, dtype: str, width: int, in_memory: bool = False):
    """Column ``name`` of ``folder``: a ``_Col`` (box-sized columns) or a loaded array (page-sized)."""
    col = _Col(folder / f"{name}.bin", dtype, width)
    return col.range(0, len(col)) if in_memory else col


class DeepScoresIndex:
    """An opened index: the page and box columns, mapped read-only."""

    def __init__(self, folder: Path, meta: dict) -> None:
        self.folder = Path(folder)
        self.meta = meta
        self.class_names: list[str] = meta["class_names"]
        self.errors: dict[int, str] = {int(k): v for k, v in meta["errors"].items()}
        for name, (dtype, width) in _BOX_COLUMNS.items():
            setattr(self, name, _map(self.folder, name, dtype, width))
        for name, (dtype, width) in _PAGE_COLUMNS.items():  # ~70 bytes a page: loaded
            setattr(self, name, _map(self.folder, name, dtype, width, in_memory=name != "filename_blob"))

    def __len__(self) -> int:
        return len(self.image_id)

    @staticmethod
    def _text(blob: np.ndarray, offsets: np.ndarray, i: int) -> str:
        return blob[offsets[i]:offsets[i + 1]].tobytes().decode("utf-8", "surrogatepass")

    @staticmethod
    def _texts(blob, offsets, rows: np.ndarray) -> list[str]:
        """The strings of ``rows``, decoded."""
        data, lengths = _gather(blob, offsets, rows)
        ends = np.cumsum(lengths).tolist()
        starts = [0] + ends[:-1]
        text = data.decode("utf-8", "surrogatepass")
        if len(text) == len(data):  # ASCII: slice the decoded text
            return [text[a:b] for a, b in zip(starts, ends)]
        return [data[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, ends)]

    def filename(self, page: int) -> str:
        return self._text(self.filename_blob, self.filename_off, page)

    def page(self, page: int, images_dir: Path, keep_code: Optional[np.ndarray] = None):
        """Page ``page`` as ``PageAnnotations``, only the classes where ``keep_code`` is true."""
        from detector.data.deepscores import PageAnnotations

        a, b = int(self.start[page]), int(self.start[page + 1])
        codes = np.asarray(self.classes[a:b])
        rows = np.arange(a, b)
        if keep_code is not None:
            keep = keep_code[codes]
            rows, codes = rows[keep], codes[keep]
        filename = self.filename(page)
        width, height = (int(v) for v in self.size[page])
        return PageAnnotations(
            image_id=int(self.image_id[page]), filename=filename, path=Path(images_dir) / filename,
            width=width, height=height,
            boxes=np.array(self.boxes[rows], dtype=np.float32).reshape(-1, 4),
            obboxes=np.array(self.obboxes[rows], dtype=np.float32).reshape(-1, 8),
            class_names=[self.class_names[c] for c in codes.tolist()],
            ann_ids=self._texts(self.ann_id_blob, self.ann_id_off, rows),
            comments=self._texts(self.comment_blob, self.comment_off, rows),
        )


class IndexedPages(Sequence):
    """The pages a load kept, read from the index one page at a time (a ``Sequence``).

    Indexing gives a ``PageAnnotations``, a slice a list of them. ``num_annotations`` is the
    total after the class filter. Pickles as the index folder (DataLoader workers remap it).
    """

    def __init__(self, index: DeepScoresIndex, pages: np.ndarray, images_dir: Path,
                 keep_code: Optional[np.ndarray], num_annotations: int) -> None:
        self.index = index
        self.page_numbers = np.asarray(pages, dtype=np.int64)
        self.images_dir = Path(images_dir)
        self.keep_code = keep_code
        self.num_annotations = num_annotations

    def __len__(self) -> int:
        return len(self.page_numbers)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self)))]
        if item < 0:
            item += len(self)
        if not 0 <= item < len(self):
            raise IndexError(f"page {item} out of range (0..{len(self) - 1})")
        return self.index.page(int(self.page_numbers[item]), self.images_dir, self.keep_code)

    def __iter__(self) -> Iterator:
        for i in range(len(self)):
            yield self[i]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["index"] = str(self.index.folder)
        return state

    def __setstate__(self, state: dict) -> None:
        folder = Path(state["index"])
        state["index"] = DeepScoresIndex(folder, json.loads((folder / "meta.json").read_text()))
        self.__dict__.update(state)


# --------------------------------------------------------------------------- loading a split


def open_split(index: DeepScoresIndex, json_path: Path, images_dir: Path,
               class_filter: Optional[tuple[str, ...]], check_images: bool):
    """The ``DeepScoresSplit`` the plain reader would return, with lazily read pages.

    Page order decides, as in the plain reader: a page's JSON error is raised when the load
    reaches it (an annotation error only if its image passed the check); image checks count
    and skip; annotation skips count for every page whose image passed; a repeated image
    id among those is a ``duplicate_image_id`` skip.
    """
    from detector.data.deepscores import DeepScoresFormatError, DeepScoresSplit, _check_image_file

    n_pages = len(index)
    skipped: Counter = Counter()
    passed = np.ones(n_pages, dtype=bool)
    if check_images or index.errors:
        first_error = min(index.errors) if index.errors else n_pages
        last = n_pages if check_images else first_error + 1
        for page in range(last):
            status = int(index.status[page])
            if status == _PAGE_FIELD_ERROR:
                raise DeepScoresFormatError(index.errors[page])
            if check_images:
                width, height = (int(v) for v in index.size[page])
                if not _check_image_file(images_dir / index.filename(page), width, height, skipped):
                    passed[page] = False
                    continue
            if status == _PAGE_ANN_ERROR:
                raise DeepScoresFormatError(index.errors[page])
    counts = index.skips[passed].sum(axis=0) if n_pages else np.zeros(len(REASONS), dtype=np.int64)
    for reason, count in zip(REASONS, counts.tolist()):
        if count:
            skipped[reason] += count
    candidates = np.flatnonzero(passed)
    _, first = np.unique(np.asarray(index.image_id)[candidates], return_index=True)
    if len(first) < len(candidates):
        skipped["duplicate_image_id"] += len(candidates) - len(first)
    kept = candidates[np.sort(first)]

    per_class, per_page = _class_counts(index, kept, class_filter)
    counts_all = Counter({name: int(c) for name, c in zip(index.class_names, per_class.tolist()) if c})
    keep_code = None
    if class_filter is not None:
        wanted = set(class_filter)
        keep_code = np.array([n in wanted for n in index.class_names], dtype=bool)
    empty = int(np.count_nonzero(per_page == 0))
    if empty:
        skipped["empty_page_kept"] = empty
    pages = IndexedPages(index, kept, images_dir, keep_code, int(per_page.sum()))
    return DeepScoresSplit(json_path, pages, skipped, counts_all, class_filter)


def _class_counts(index: DeepScoresIndex, kept: np.ndarray, class_filter) -> tuple[np.ndarray, np.ndarray]:
    """Per-class box counts over ``kept`` pages (all classes) and per-page counts after the filter."""
    n_classes = len(index.class_names)
    wanted = set(class_filter) if class_filter is not None else None
    keep_code = np.array([wanted is None or n in wanted for n in index.class_names], dtype=bool)
    per_class = np.zeros(n_classes, dtype=np.int64)
    per_page = np.zeros(len(kept), dtype=np.int64)
    # steps of about 256k boxes: a few MB of temporaries, whatever the file's size
    boxes_before = np.cumsum(index.start[kept + 1] - index.start[kept])
    total = int(boxes_before[-1]) if len(kept) else 0
    cuts = np.searchsorted(boxes_before, np.arange(1 << 18, total, 1 << 18))
    for lo, hi in zip([0, *cuts.tolist()], [*cuts.tolist(), len(kept)]):
        if hi <= lo:
            continue
        pages = kept[lo:hi]
        starts, ends = index.start[pages], index.start[pages + 1]
        if np.all(starts[1:] == ends[:-1]):  # contiguous pages: one read
            codes = index.classes[starts[0]:ends[-1]]
        else:
            codes = np.concatenate([index.classes[a:b] for a, b in zip(starts, ends)])
        per_class += np.bincount(codes, minlength=n_classes)[:n_classes]
        cum = np.concatenate([[0], np.cumsum(keep_code[codes], dtype=np.int32)])
        lengths = ends - starts
        bounds = np.concatenate([[0], np.cumsum(lengths)])
        per_page[lo:hi] = cum[bounds[1:]] - cum[bounds[:-1]]
    return per_class, per_page


def load_indexed(json_path: Path, images_dir: Path, class_filter: Optional[tuple[str, ...]],
                 check_images: bool):
    """The split through the index (built or rebuilt first when needed); None: use the plain reader."""
    index = open_or_build(json_path)
    if index is None:
        return None
    return open_split(index, json_path, images_dir, class_filter, check_images)


def open_or_build(json_path: Path) -> Optional[DeepScoresIndex]:
    """Open the fresh index of ``json_path``, building it first when missing or stale.

    Readers open under a shared lock and a builder renames under an exclusive one, so an
    index is never opened half-replaced. Returns None when the file must be read by the
    plain reader (see the module docstring).
    """
    json_path = Path(json_path)
    folder = index_dir(json_path)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        meta = _fresh(folder, json_path)
        if meta is not None:
            return DeepScoresIndex(folder, meta)
        fcntl.flock(lock, fcntl.LOCK_UN)
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time (e.g. torchrun ranks)
        meta = _fresh(folder, json_path)  # another process may have built it meanwhile
        if meta is None:
            try:
                meta = build_index(json_path, folder)
            except StreamFallback:
                return None
        return DeepScoresIndex(folder, meta)


def _gather(blob: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[bytes, np.ndarray]:
    """The encoded strings of ``rows``, concatenated, and their lengths (no decoding)."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return b"", np.zeros(0, dtype=np.int64)
    starts, ends = np.asarray(offsets[rows]), np.asarray(offsets[rows + 1])
    lo, hi = int(starts.min()), int(ends.max())
    if hi - lo <= 4 * int((ends - starts).sum()) + 4096:  # close together: one read
        chunk = blob[lo:hi].tobytes()
        parts = [chunk[a:b] for a, b in zip((starts - lo).tolist(), (ends - lo).tolist())]
    else:
        parts = [blob[a:b].tobytes() for a, b in zip(starts.tolist(), ends.tolist())]
    return b"".join(parts), ends - starts


def build_index(json_path: Path, folder: Path) -> dict:
    """Stream ``json_path`` into a new index at ``folder`` (see ``dsv2_index_build.build``)."""
    from detector.data.dsv2_index_build import build

    return build(json_path, folder)
