"""Check, before any slow work, that a command's output files can be written.

A read-only folder used to be found out only when the report or the MusicXML was written,
after minutes of inference. The check creates the folder and a temporary file in it, then
removes the file: the only test that answers for permissions, quotas, read-only mounts and
ACLs alike.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


class NotWritableError(OSError):
    """An output file or folder cannot be written (one-line message)."""


def check_writable_dir(folder: str | Path) -> Path:
    """Create ``folder`` (and its parents) and prove a file can be written in it."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotWritableError(f"cannot write into {folder}: it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".write_check.", suffix=".tmp")
        os.close(handle)
        os.unlink(probe)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise NotWritableError(f"cannot write into {folder}: {reason}") from None
    return folder


def check_writable_file(path: str | Path) -> Path:
    """Prove ``path`` can be written: its folder is writable and it is not a folder itself."""
    path = Path(path)
    if path.is_dir():
        raise NotWritableError(f"cannot write {path}: it is a folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise NotWritableError(f"cannot write {path}: permission denied")
    check_writable_dir(path.parent)
    return path
