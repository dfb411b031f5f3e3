"""Files that are never half-written: write a temporary file beside the target, fsync, rename.

A crash or kill at any instant leaves either the previous file or the new one whole, never a
truncated one (``os.replace`` is atomic on POSIX; the folder is fsync'ed so the rename itself
survives a power cut). Checkpoints, the shipped weights and eval.py's detections.json all
go through here.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable

import torch


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(binary_file)`` on a temp file in ``path``'s folder, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as temp_file:
            write(temp_file)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return path


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` through ``atomic_write``."""
    return atomic_write(path, lambda file: torch.save(obj, file))
