"""Generate a synthetic DSv2-format dataset once, and reuse it afterwards.

Layout written (as the real dataset): ``images/*.png`` (RGBA, transparent background),
``deepscores_train.json`` and ``deepscores_test.json`` (split by piece: no piece has pages
in both), ``music/<image stem>.mei`` and ``music/<image stem>.json`` (ground-truth notes),
and ``synthetic_manifest.json`` (pages, seed, generator version), written last: a folder
without a matching manifest is incomplete and is generated again.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterator

from tqdm import tqdm

from detector.data.synth.page import GeneratedPage, PageGenerationError, generate_page
from detector.data.synth.writer import annotation, write_split

GENERATOR_VERSION = 2  # 2: text on the pages (text.py), text fonts (textfonts.py)
MANIFEST_NAME = "synthetic_manifest.json"
#: Share of pieces that go to the test split (at least one piece, whatever the size).
TEST_FRACTION = 0.15


def manifest_matches(out_dir: Path, pages: int, seed: int) -> bool:
    """True when ``out_dir`` holds a complete dataset generated with these settings."""
    path = out_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("pages") != pages or manifest.get("seed") != seed or manifest.get("version") != GENERATOR_VERSION:
        return False
    files = [out_dir / "deepscores_train.json", out_dir / "deepscores_test.json"]
    files += [out_dir / "images" / name for name in manifest.get("images", [])]
    files += [out_dir / "music" / f"{Path(name).stem}{ext}" for name in manifest.get("images", []) for ext in (".mei", ".json")]
    return all(f.is_file() for f in files)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def ensure_synthetic_dataset(out_dir: Path, pages: int, seed: int, workers: int | None = None,
                             draw: bool = False) -> Path:
    """Generate the dataset into ``out_dir`` unless it is already there; return ``out_dir``.

    Args:
        out_dir: the dataset folder (created if missing).
        pages: number of pages (train + test).
        seed: the generator seed: the same (pages, seed) gives the same bytes.
        workers: processes rendering pages in parallel (1 = in this process; None = every
            available core). The bytes written do not depend on it.
        draw: also write box overlays to ``out_dir/overlays``.
    """
    out_dir = Path(out_dir)
    if pages < 2:
        raise ValueError(f"pages must be at least 2 (one train and one test page), got {pages}")
    if manifest_matches(out_dir, pages, seed):
        return out_dir
    workers = available_cores() if workers is None else workers
    generate_dataset(out_dir, pages, seed, workers=workers, draw=draw)
    return out_dir


def _pages(seed: int, pages: int, workers: int) -> Iterator[GeneratedPage | PageGenerationError]:
    """Pages in index order, whatever the number of workers (each page depends only on its
    seed and index, so the bytes are the same)."""
    indices = range(pages)
    if workers <= 1:
        for i in indices:
            yield _safe_page(seed, i)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_safe_page, [seed] * pages, indices, chunksize=1)


_TOOLKIT = None


def _safe_page(seed: int, index: int) -> GeneratedPage | PageGenerationError:
    """One page, with one Verovio toolkit per process (a failure is returned, not raised)."""
    global _TOOLKIT
    from detector.data.synth.engrave import make_toolkit

    if _TOOLKIT is None:
        _TOOLKIT = make_toolkit()
    try:
        return generate_page(seed, index, _TOOLKIT)
    except PageGenerationError as err:
        return err


def test_pieces(piece_keys: list[str], seed: int) -> set[str]:
    """Pieces of the test split: a seeded hash picks about TEST_FRACTION of them, at least one
    and (when there are two or more pieces) never all."""
    unique = sorted(set(piece_keys))
    score = {k: hashlib.sha256(f"{seed}:{k}".encode()).hexdigest() for k in unique}
    ranked = sorted(unique, key=lambda k: score[k])
    count = min(max(1, round(TEST_FRACTION * len(unique))), max(1, len(unique) - 1))
    return set(ranked[:count])


def generate_dataset(out_dir: Path, pages: int, seed: int, workers: int = 1, draw: bool = False) -> Counter:
    """Generate ``pages`` pages into ``out_dir`` (replacing an earlier, different run).

    Returns:
        Counts of what was left out (glyphs without a DSv2 class, failed page indices).
    """
    for sub in ("images", "music", "overlays"):
        shutil.rmtree(out_dir / sub, ignore_errors=True)
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    (out_dir / "images").mkdir(parents=True)
    (out_dir / "music").mkdir()
    skipped: Counter = Counter()
    done: list[GeneratedPage] = []
    for result in tqdm(_pages(seed, pages, workers), total=pages, desc="synthetic pages", unit="page"):
        if isinstance(result, PageGenerationError):
            skipped["failed page"] += 1
            continue
        (out_dir / "images" / result.filename).write_bytes(result.png)
        (out_dir / "music" / f"{Path(result.filename).stem}.mei").write_text(result.mei)
        skipped.update(result.skipped)
        result.png = b""  # keep memory flat for large runs
        done.append(result)
    test_keys = test_pieces([p.piece_key for p in done], seed)
    _write_splits(out_dir, done, test_keys)
    if draw:
        from detector.data.synth.overlay import draw_overlays

        draw_overlays(out_dir)
    manifest = {"pages": pages, "seed": seed, "version": GENERATOR_VERSION,
                "images": [p.filename for p in done], "skipped": dict(skipped)}
    (out_dir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))
    return skipped


def _write_splits(out_dir: Path, done: list[GeneratedPage], test_keys: set[str]) -> None:
    """Give annotation ids in page order, write both split files and the notes JSONs."""
    splits = {"train": ([], {}), "test": ([], {})}
    next_ann = 1
    for page in done:
        images, annotations = splits["test" if page.piece_key in test_keys else "train"]
        image_id = page.index + 1
        ann_ids = [str(next_ann + i) for i in range(len(page.symbols))]
        next_ann += len(page.symbols)
        for ann_id, sym in zip(ann_ids, page.symbols):
            annotations[ann_id] = annotation(sym.box, sym.class_name, sym.area, image_id, sym.comment)
        images.append({"id": image_id, "filename": page.filename, "width": page.width, "height": page.height, "ann_ids": ann_ids})
        notes = [{"ann_id": ann_ids[n["ann_index"]], **{k: v for k, v in n.items() if k != "ann_index"}} for n in page.notes]
        music = {"image": page.filename, "piece": page.piece_key, "staves": page.staves, "notes": notes}
        (out_dir / "music" / f"{Path(page.filename).stem}.json").write_text(json.dumps(music, indent=1))
    for split, (images, annotations) in splits.items():
        write_split(out_dir / f"deepscores_{split}.json", images, annotations)
