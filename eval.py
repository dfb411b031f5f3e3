"""Evaluate a symbol detector (or another detector's COCO results) with pycocotools.

    python eval.py --weights runs/quickstart/checkpoints/best.pt
    python eval.py --detections yolo_results.json --data path/to/ds2_dense --split test

Arguments only; the work is ``detector.evaluation.run.run_evaluation``. Exit status: 0 done,
2 a user mistake (one line on stderr).
"""
from __future__ import annotations

import argparse
import sys

from detector.cli_args import OneLineArgumentParser, at_least, probability

#: Shown in --help without importing torch (the same paths as detector.evaluation.run's constants).
DEFAULT_WEIGHTS_TEXT = "weights/default.pt"
DEFAULT_OUT_TEXT = "runs/eval/<checkpoint or detections name>"


def build_parser() -> argparse.ArgumentParser:
    """eval.py's arguments (``--help`` answers before torch is imported)."""
    parser = OneLineArgumentParser(
        prog="eval.py",
        description="Score detections on a DeepScoresV2-format split: COCO mAP@[.5:.95], mAP50, mAP75, "
        "AP small/medium, per-class and per-group AP, precision/recall at a score threshold. Writes "
        "report.json, report.md, pr_curves.png, confusion_matrix.png and overlays/. Exit status: 0 done, "
        "2 a bad input or output (one line on stderr).",
    )
    parser.add_argument("--weights", metavar="CKPT",
                        help=f"checkpoint to evaluate (default: {DEFAULT_WEIGHTS_TEXT}; with --detections "
                             "only its class list and config are used)")
    parser.add_argument("--detections", metavar="DETS.json",
                        help="COCO results JSON to score instead of running a model: a list of {image_id, "
                             "category_id (DSv2 deepscores id), bbox [x, y, w, h] in page pixels, score}")
    parser.add_argument("--data", metavar="PATH",
                        help="DSv2-format folder (holding deepscores_<split>.json and images/) or an "
                             "annotation JSON file (default: the checkpoint config's dataset, i.e. the "
                             "synthetic default dataset)")
    parser.add_argument("--split", metavar="SPLIT", default="val",
                        help="split to evaluate: val (DSv2's test file), train, test (default: val)")
    parser.add_argument("--out", metavar="DIR", help=f"output folder (default: {DEFAULT_OUT_TEXT})")
    parser.add_argument("--score-thresh", metavar="T", type=probability,
                        help="operating score threshold in [0, 1] for precision/recall, the overlays and the "
                             "confusion matrix (default: the checkpoint config's eval.score_thresh, 0.5 "
                             "unless set); AP always uses every detection")
    parser.add_argument("--max-pages", metavar="N", type=at_least(1),
                        help="evaluate only the first N pages (default: all)")
    parser.add_argument("--overlays", metavar="N", type=at_least(0),
                        help="pages to draw overlays of (default: eval.overlay_pages, 2)")
    parser.add_argument("--device", metavar="DEVICE", default="auto",
                        help="auto, cpu, cuda or cuda:N (default: auto: cuda when available)")
    parser.add_argument("--precision", choices=("fp32", "bf16", "auto"), default="fp32",
                        help="number format of inference: fp32, bf16 (about 2x faster on CPUs with AMX "
                             "and on Ampere+ GPUs) or auto (bf16 where fast) (default: fp32, so figures "
                             "do not depend on the machine)")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line, then evaluate; returns the exit status."""
    args = build_parser().parse_args(argv)
    from detector.evaluation.run import EvalInputError, run_evaluation  # imports torch: after parsing

    try:
        run_evaluation(**vars(args))
    except EvalInputError as err:
        print(f"eval.py: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
