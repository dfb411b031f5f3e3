"""What ``train.py`` runs: load the config, train, turn user mistakes into one-line errors.

Exit status: 0 done; 2 a bad config, missing or malformed data, an unusable --resume, a run
folder in use or not writable (one line on stderr, no traceback); 3 the NaN guard stopped
the run (its message says what to try); 130 interrupted by Ctrl-C or SIGTERM (a checkpoint
is saved and the line says how to resume).
"""
from __future__ import annotations

import os
import shlex
import sys
import warnings
from typing import Optional

from detector.config import ConfigError, load_config


def _warn_in_one_line(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings (e.g. a corrupt checkpoint skipped) as ``warning: ...`` above the progress bar."""
    from detector.engine.tb_logging import say

    say(f"warning: {message}", warning=True)


def resume_command(config: str, overrides: list[str], run_name: Optional[str],
                   debug_grads: bool = False) -> str:
    """The command line that continues this run where it stopped (under torchrun: with torchrun
    and as many processes, read from torchrun's environment)."""
    processes = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ.get("WORLD_SIZE", "1")))
    launcher = ["torchrun", "--nproc_per_node", str(processes)] if processes > 1 else ["python"]
    args = launcher + ["train.py", "--config", config] + (["--debug-grads"] if debug_grads else [])
    if overrides:
        args += ["--set", *overrides]
    if run_name:
        args += ["--run-name", run_name]
    return shlex.join(args + ["--resume", "auto"])


def run_training_command(config: str, overrides: list[str], resume: Optional[str],
                         run_name: Optional[str], debug_grads: bool) -> int:
    """Train as the command line says; returns the process exit status."""
    try:
        cfg = load_config(config, overrides)  # before importing torch: a typo answers at once
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if run_name:
        cfg.log.run_name = run_name
    previous_showwarning, warnings.showwarning = warnings.showwarning, _warn_in_one_line
    try:
        from detector.data.classes import UnknownClassError
        from detector.data.deepscores import DeepScoresFormatError, ImageReadError
        from detector.engine.checkpoint import CheckpointError
        from detector.engine.guard import TrainingDiverged
        from detector.engine.run_folder import RunFolderError
        from detector.engine.trainer import TrainingInterrupted, train

        try:
            result = train(cfg, resume=resume, debug_grads=debug_grads)
        except (ConfigError, CheckpointError, FileNotFoundError, RunFolderError, DeepScoresFormatError,
                ImageReadError, UnknownClassError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except TrainingDiverged as err:
            print(f"error: {err}", file=sys.stderr)
            return 3
        except TrainingInterrupted as err:
            from pathlib import Path

            if os.environ.get("RANK", "0") != "0":
                return 130  # rank 0 saved the checkpoint and says how to continue
            name = Path(err.checkpoint).parent.parent.name if err.checkpoint else run_name
            command = resume_command(config, overrides, name, debug_grads)
            print(f"interrupted: {err}; continue with: {command}", file=sys.stderr)
            return 130
    except KeyboardInterrupt:  # before the loop (data generation, model building): nothing to save
        print("interrupted before training started: nothing saved", file=sys.stderr)
        return 130
    finally:
        warnings.showwarning = previous_showwarning
    if os.environ.get("RANK", "0") != "0":
        return 0  # rank 0 reports for all
    print(summary_line(result, cfg.eval.every_epochs), flush=True)
    return 0


def summary_line(result: dict, val_every_epochs: int = 1) -> str:
    """The ``done: ...`` line: steps, skipped steps, rollbacks, time, folder, checkpoint, validation."""
    val = result.get("val")
    if val and val.get("map") is not None:
        validation = f"validation mAP {val['map']:.4f}, mAP50 {val['map50']:.4f} at step {val['step']}"
    elif val:
        validation = "validation mAP n/a"
    elif val_every_epochs <= 0:
        validation = "no validation (eval.every_epochs 0)"
    else:
        validation = "no validation in this session (none was due, or the evaluation stage is missing)"
    checkpoint = result.get("last_checkpoint") or "none"
    return (f"done: {result['steps']} steps ({result['skipped_steps']} skipped, "
            f"{result['rollbacks']} rollback(s)) in {result['wall_s']:.0f} s; "
            f"run folder {result['run_dir']}; "
            f"last checkpoint {checkpoint}; {validation}")
