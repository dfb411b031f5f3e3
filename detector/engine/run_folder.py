"""The run folder ``runs/NAME/``: chosen once, checked writable, held by one training at a time.

A lock file ``runs/NAME/.lock`` holds the pid of the training that writes there. It is
created with ``O_CREAT | O_EXCL`` (atomic: of two runs started together exactly one gets
it) and removed when the run ends, however it ends. A lock whose pid no longer runs (a run
that was SIGKILLed) is stale and taken over. Creating it is also the writability check: a
read-only or full ``runs/`` is reported before any data is generated or model built.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

LOCK_NAME = ".lock"


class RunFolderError(RuntimeError):
    """The run folder cannot be used: busy (another live run) or not writable (one line)."""


def _pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (on this machine)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True


def lock_owner(run_dir: Path) -> Optional[int]:
    """The pid of the live run holding ``run_dir``, or None (no lock, or a stale one)."""
    try:
        text = (Path(run_dir) / LOCK_NAME).read_text().strip()
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        return None
    pid = int(text) if text.isdigit() else -1
    return pid if pid != os.getpid() and _pid_alive(pid) else None


def _busy_message(run_dir: Path, pid: int) -> str:
    return (f"run folder {run_dir} is in use by another training (pid {pid}); wait for it to finish, "
            f"or give this one another name with --run-name")


def fresh_run_dir(run_dir: Path, say: Callable[[str], None] = print) -> Path:
    """``run_dir``, or ``run_dir-2``, ``-3``... when a previous run already wrote there.

    A new run never mixes its checkpoints and logs with an old run's (resume instead with
    ``--resume auto``, which reuses the folder).

    Raises:
        RunFolderError: a live training holds ``run_dir`` (two runs of one name at once).
    """
    owner = lock_owner(run_dir)
    if owner is not None:
        raise RunFolderError(_busy_message(run_dir, owner))
    if not run_dir.exists() or not any(p.name != LOCK_NAME for p in run_dir.iterdir()):
        return run_dir
    n = 2
    while (run_dir.parent / f"{run_dir.name}-{n}").exists():
        n += 1
    fresh = run_dir.parent / f"{run_dir.name}-{n}"
    say(f"{run_dir} holds an earlier run: writing to {fresh} (continue the old one with --resume auto)")
    return fresh


class RunLock:
    """Exclusive use of a run folder by this process; ``release()`` (or ``with``) frees it."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.held = False

    def acquire(self) -> "RunLock":
        """Create the folder and the lock file, taking over a stale lock.

        Raises:
            RunFolderError: another live run holds it, or the folder cannot be written.
        """
        run_dir = self.path.parent
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            for _ in range(2):  # second try after removing a stale lock
                try:
                    handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    owner = lock_owner(run_dir)
                    if owner is not None:
                        raise RunFolderError(_busy_message(run_dir, owner)) from None
                    self.path.unlink(missing_ok=True)  # stale: its run is gone
                    continue
                with os.fdopen(handle, "w") as lock_file:
                    lock_file.write(f"{os.getpid()}\n")
                self.held = True
                return self
        except OSError as err:  # PermissionError, read-only file system, disk full, a file in the way
            reason = err.strerror or type(err).__name__
            raise RunFolderError(f"cannot write to run folder {run_dir} ({reason}); "
                                 f"choose another with --set log.runs_dir=DIR") from None
        raise RunFolderError(_busy_message(run_dir, lock_owner(run_dir) or -1))

    def release(self) -> None:
        """Remove the lock file (only if this process still owns it)."""
        if not self.held:
            return
        self.held = False
        try:
            if self.path.read_text().strip() == str(os.getpid()):
                self.path.unlink()
        except OSError:
            pass

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
