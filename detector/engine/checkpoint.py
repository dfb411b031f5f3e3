"""Atomic, resumable training checkpoints in ``runs/NAME/checkpoints/``.

A checkpoint is written to a temporary file in the same folder, fsync'ed and renamed over
its final name (``os.replace`` is atomic on POSIX), so a run killed at any instant leaves
either the old file or the new one, never half of one. Reading tolerates the rare truncated
or corrupt file anyway (a full disk, a copy interrupted by the user): it is reported and
the previous checkpoint is used. So is a file whose tensors hold inf/NaN (bit rot, a bad copy):
it is named as corrupt, never trained on.

Files are read with ``torch.load(weights_only=True)``: tensors, numbers, strings and
containers only, so a ``.pt`` someone sent cannot run code when it is resumed or replayed
(every RNG state is stored as tensors and plain numbers for this).

Layout (the keys of ``model_io`` plus the training state, see ARCHITECTURE.md): ``model``,
``config``, ``class_names``, ``code_version``, ``optimizer``, ``scheduler``, ``scaler``,
``rng``, ``data_position``, ``step``, ``epoch``, ``metrics``, ``guard``.
"""
from __future__ import annotations

import pickle
import random
import re
import subprocess
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch

import detector
from detector.atomic_files import atomic_torch_save

CHECKPOINT_DIRNAME = "checkpoints"
_STEP_NAME = re.compile(r"^step_(\d{8})\.pt$")
_TEMP_NAME = re.compile(r"^\.(step_\d{8}|best)\.pt\..*\.tmp$")  # atomic_write's temp files
REQUIRED_KEYS = ("model", "optimizer", "scheduler", "rng", "step", "config")


class CheckpointError(RuntimeError):
    """No usable checkpoint where one was asked for (one-line message)."""


def code_version() -> str:
    """``git describe`` of the source tree when it is a checkout, else the package version."""
    repo = Path(detector.__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=repo, capture_output=True, text=True, timeout=5,
        )
        if out.returncode == 0 and out.stdout.strip():
            return f"git:{out.stdout.strip()}"
    except (OSError, subprocess.SubprocessError):
        pass
    return f"omr-detector {detector.__version__}"


def capture_rng() -> dict:
    """Every RNG state a training step can touch (python, numpy, torch CPU and CUDA)."""
    name, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": random.getstate(),
        # a tensor and plain numbers, not an ndarray: model_io.load_model reads training
        # checkpoints with weights_only=True, which refuses numpy objects
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    """Inverse of :func:`capture_rng`."""
    random.setstate(state["python"])
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        numpy_state = (numpy_state["name"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                       numpy_state["has_gauss"], numpy_state["cached_gaussian"])
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def safe_load(path: Path, what: str = "checkpoint") -> object:
    """``torch.load`` with ``weights_only=True`` on CPU; one-line CheckpointError otherwise.

    A pickled object (anything but tensors, numbers, strings and containers) is refused before
    it is built, so its code never runs.
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        if "weights_only" in str(err) or "Unsupported global" in str(err):
            raise CheckpointError(f"{what} {path} refused: it holds pickled Python objects, not only tensors "
                                  f"and numbers (loading it could run code; {first[:100]})") from None
        raise CheckpointError(f"{what} {path} is unreadable (UnpicklingError: {first[:120]})") from None
    except Exception as err:  # torch raises RuntimeError/EOFError/... for bad bytes
        reason = f"{type(err).__name__}: {str(err)[:120]}"
        raise CheckpointError(f"{what} {path} is unreadable ({reason})") from None


def nonfinite_tensors(tree: object, prefix: str = "") -> list[str]:
    """Names of the floating-point tensors in a nested dict/list that hold inf or NaN."""
    if isinstance(tree, torch.Tensor):
        return [prefix] if tree.is_floating_point() and not bool(torch.isfinite(tree).all()) else []
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, (list, tuple)):
        items = enumerate(tree)
    else:
        return []
    bad = []
    for key, value in items:
        bad += nonfinite_tensors(value, f"{prefix}.{key}" if prefix else str(key))
    return bad


def read_checkpoint(path: Path) -> dict:
    """Load a checkpoint on CPU and check that it holds a finite training state.

    Raises:
        CheckpointError: unreadable, truncated, refused (pickled code), corrupt (non-finite
            weights or optimizer state) or not a training checkpoint.
    """
    state = safe_load(path)
    if not isinstance(state, dict) or any(key not in state for key in REQUIRED_KEYS):
        raise CheckpointError(f"checkpoint {path} is not a training checkpoint (missing keys)")
    bad = nonfinite_tensors(state["model"], "model") + nonfinite_tensors(state["optimizer"], "optimizer")
    if bad:
        raise CheckpointError(f"checkpoint {path} is corrupt: {len(bad)} tensor(s) hold inf/NaN "
                              f"(first: {bad[0]})")
    return state


class CheckpointManager:
    """Writes ``step_XXXXXXXX.pt`` (the last ``keep_last``) and ``best.pt`` under ``run_dir``."""

    def __init__(self, run_dir: Path, keep_last: int, keep_best: bool = True) -> None:
        self.dir = Path(run_dir) / CHECKPOINT_DIRNAME
        self.keep_last = max(1, keep_last)
        self.keep_best = keep_best

    def remove_temp_files(self) -> list[Path]:
        """Delete temp files a kill during a checkpoint write left behind (call under the run lock)."""
        if not self.dir.is_dir():
            return []
        leftovers = [p for p in self.dir.iterdir() if _TEMP_NAME.match(p.name)]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers

    def step_paths(self) -> list[Path]:
        """Step checkpoints, oldest first."""
        if not self.dir.is_dir():
            return []
        return sorted(p for p in self.dir.iterdir() if _STEP_NAME.match(p.name))

    def save(self, state: dict, step: int) -> Path:
        """Write the checkpoint of ``step`` and drop the oldest beyond ``keep_last``.

        ``step_00000000.pt`` (the initial weights) is always kept: the NaN guard's rollback of
        last resort when trouble starts before the first periodic checkpoint.
        """
        path = self.dir / f"step_{step:08d}.pt"
        atomic_torch_save(state, path)
        for old in self.step_paths()[: -self.keep_last]:
            if old.name != "step_00000000.pt":
                old.unlink(missing_ok=True)
        return path

    def save_best(self, state: dict) -> Path:
        """Write ``best.pt`` (the caller decides what "best" means: validation mAP)."""
        path = self.dir / "best.pt"
        atomic_torch_save(state, path)
        return path

    def latest_path(self) -> tuple[Optional[int], Optional[Path]]:
        """Step and path of the newest step checkpoint file (not read: for messages)."""
        paths = self.step_paths()
        if not paths:
            return None, None
        return int(_STEP_NAME.match(paths[-1].name).group(1)), paths[-1]

    def load_latest(self, max_step: Optional[int] = None) -> tuple[Optional[dict], Optional[Path]]:
        """The newest readable step checkpoint (optionally with ``step <= max_step``).

        A corrupt or truncated newer file is skipped with a warning naming it.
        """
        for path in reversed(self.step_paths()):
            if max_step is not None and int(_STEP_NAME.match(path.name).group(1)) > max_step:
                continue
            try:
                return read_checkpoint(path), path
            except CheckpointError as err:
                warnings.warn(f"{err}; falling back to the previous checkpoint", stacklevel=2)
        return None, None


def resolve_resume(resume: str, run_dir: Path) -> tuple[dict, Path]:
    """Load what ``--resume`` names: ``auto`` (latest good checkpoint of this run) or a path.

    Raises:
        CheckpointError: nothing usable found (one line).
    """
    if resume == "auto":
        state, path = CheckpointManager(run_dir, keep_last=1).load_latest()
        if state is None:
            folder = Path(run_dir) / CHECKPOINT_DIRNAME
            raise CheckpointError(f"--resume auto: no usable checkpoint in {folder}")
        return state, path
    path = Path(resume)
    if path.is_dir():  # a run folder or its checkpoints folder
        run = path.parent if path.name == CHECKPOINT_DIRNAME else path
        return resolve_resume("auto", run)
    if not path.is_file():
        raise CheckpointError(f"--resume: no such file: {path}")
    try:
        return read_checkpoint(path), path
    except CheckpointError as err:
        # a named file that is corrupt: fall back to its older siblings, loudly
        manager = CheckpointManager(path.parent.parent, keep_last=1)
        match = _STEP_NAME.match(path.name)
        if match is None:
            raise
        state, fallback = manager.load_latest(max_step=int(match.group(1)) - 1)
        if state is None:
            raise
        warnings.warn(f"{err}; resuming from {fallback} instead", stacklevel=2)
        return state, fallback
