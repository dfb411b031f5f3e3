"""Real music to engrave: pieces from music21's bundled corpus (no download).

Three source formats, all read by Verovio directly: MusicXML (.mxl/.xml/.musicxml: Bach,
Beethoven, Mozart, ...), Humdrum (.krn: mostly Palestrina) and ABC (folk tunes; a file
holds many tunes, so one tune is cut out). The kinds are drawn with fixed weights so the
many small Palestrina and ABC files do not crowd out the keyboard and string music.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Source kind -> (file suffixes, drawing weight).
CORPUS_KINDS: dict[str, tuple[tuple[str, ...], float]] = {
    "musicxml": ((".mxl", ".xml", ".musicxml"), 0.5),
    "humdrum": ((".krn",), 0.25),
    "abc": ((".abc",), 0.25),
}


@dataclass(frozen=True)
class Piece:
    """One piece to engrave: ``data`` (text) or ``path`` (a file Verovio loads), and the key
    that identifies the piece for the train/test split (two pages of one piece share it)."""

    key: str
    path: Path | None = None
    data: str | None = None


@functools.lru_cache(maxsize=1)
def corpus_paths() -> dict[str, tuple[Path, ...]]:
    """Corpus files by kind, sorted so that a seed picks the same file on every machine."""
    from music21 import corpus

    all_paths = sorted(Path(p) for p in corpus.getPaths())
    corpus_root = _corpus_root()
    out = {}
    for kind, (suffixes, _) in CORPUS_KINDS.items():
        out[kind] = tuple(p for p in all_paths if p.suffix.lower() in suffixes and corpus_root in p.parents)
    return out


@functools.lru_cache(maxsize=1)
def _corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def abc_tunes(path: Path) -> list[str]:
    """The tunes of a multi-tune ABC file (each starts at an ``X:`` line), as texts."""
    text = path.read_text(encoding="latin-1")
    parts = ("\n" + text).split("\nX:")
    header, tunes = parts[0], parts[1:]
    return [f"X:{tune}" for tune in tunes if tune.strip()] or [text]


def draw_piece(rng: np.random.Generator) -> Piece:
    """Draw one corpus piece: a kind by weight, then a file, then (ABC) one tune of it."""
    paths = corpus_paths()
    kinds = [k for k in CORPUS_KINDS if paths[k]]
    weights = np.array([CORPUS_KINDS[k][1] for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    path = paths[kind][int(rng.integers(len(paths[kind])))]
    relative = path.relative_to(_corpus_root()).as_posix()
    if kind == "abc":
        tunes = abc_tunes(path)
        index = int(rng.integers(len(tunes)))
        return Piece(key=f"corpus/{relative}#{index}", data=tunes[index])
    return Piece(key=f"corpus/{relative}", path=path)
