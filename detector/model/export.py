"""Export a training checkpoint as a small inference checkpoint (the shipped default model).

    python -m detector.model.export runs/default_model/checkpoints/best.pt weights/default.pt --half \
        --score-thresh 0.5 --tile-size 1024 --tile-overlap 256

Training checkpoints carry the optimizer, RNG states and history; an inference checkpoint holds
only the weights (optionally float16, half the size), the config and the class list, which is
all ``load_model`` needs to rebuild the model. ``--score-thresh`` stores the operating threshold
chosen on validation pages after training (eval.py's precision/recall, reconstruct.py's
symbols): a detector's scores are only calibrated once it is trained, so it cannot be known
when the run starts. ``--tile-size`` / ``--tile-overlap`` store the full-page inference tiling
(``detector.model.tiled``): the overlap must hold the largest compact symbol whole.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def export_model(source: Path, target: Path, half: bool, score_thresh: float | None = None,
                 tile_size: int | None = None, tile_overlap: int | None = None) -> Path:
    """Load ``source`` (training or inference checkpoint) and write ``target`` atomically,
    with ``cfg.eval.score_thresh``, ``cfg.model.tile_size`` and ``cfg.model.tile_overlap``
    replaced when given."""
    from detector.model.model_io import load_model, save_model

    if score_thresh is not None and not 0.0 < score_thresh < 1.0:
        raise ValueError(f"--score-thresh must be between 0 and 1, got {score_thresh}")
    model, cfg, class_names = load_model(source)
    if score_thresh is not None:
        cfg.eval.score_thresh = score_thresh
    cfg.model.tile_size = tile_size if tile_size is not None else cfg.model.tile_size
    cfg.model.tile_overlap = tile_overlap if tile_overlap is not None else cfg.model.tile_overlap
    if not 0 <= cfg.model.tile_overlap < cfg.model.tile_size:
        raise ValueError(f"the tile overlap must be in [0, tile size), got {cfg.model.tile_overlap} "
                         f"for tiles of {cfg.model.tile_size}")
    save_model(target, model, cfg, class_names, half=half)
    return target


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: exit 2 with one line on a missing or corrupt checkpoint."""
    parser = argparse.ArgumentParser(prog="python -m detector.model.export",
                                     description="Export a checkpoint as an inference checkpoint.")
    parser.add_argument("source", type=Path, help="training or inference checkpoint (.pt)")
    parser.add_argument("target", type=Path, help="output file, e.g. weights/default.pt")
    parser.add_argument("--half", action="store_true", help="store float weights as float16 (half the size)")
    parser.add_argument("--score-thresh", type=float, default=None,
                        help="operating score threshold to store (default: keep the checkpoint's)")
    parser.add_argument("--tile-size", type=int, default=None, metavar="PX",
                        help="full-page inference tile side to store (default: keep the checkpoint's)")
    parser.add_argument("--tile-overlap", type=int, default=None, metavar="PX",
                        help="tile overlap to store: at least the largest compact symbol, e.g. 256 "
                             "(default: keep the checkpoint's)")
    args = parser.parse_args(argv)
    from detector.model.model_io import CheckpointError  # imports torch: after parsing

    try:
        target = export_model(args.source, args.target, args.half, args.score_thresh, args.tile_size,
                              args.tile_overlap)
    except (CheckpointError, ValueError) as err:
        print(f"export: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
