"""What ``train.py`` runs: load the config, train, turn user mistakes into one-line errors.

Exit status: 0 done, 2 a bad config / missing file / unusable --resume (one line on stderr,
no traceback), 3 the NaN guard stopped the run (its message says what to try).
"""
from __future__ import annotations

import os
import sys
from typing import Optional

from detector.config import ConfigError, load_config


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
    from detector.engine.checkpoint import CheckpointError
    from detector.engine.guard import TrainingDiverged
    from detector.engine.trainer import train

    try:
        result = train(cfg, resume=resume, debug_grads=debug_grads)
    except (ConfigError, CheckpointError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    if os.environ.get("RANK", "0") != "0":
        return 0  # rank 0 reports for all
    print(f"done: {result['steps']} steps in {result['wall_s']:.0f} s; run folder {result['run_dir']}; "
          f"last checkpoint {result['last_checkpoint']}; validation {result['val']}", flush=True)
    return 0
