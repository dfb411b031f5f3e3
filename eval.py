"""Evaluate a symbol detector (or another detector's COCO results) with pycocotools.

    python eval.py --weights runs/quickstart/best.pt
    python eval.py --detections yolo_results.json --data path/to/ds2_dense --split test
"""
import argparse
import sys

from detector.evaluation.run import DEFAULT_OUT_ROOT, DEFAULT_WEIGHTS, EvalInputError, run_evaluation


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Score detections on a DeepScoresV2-format split: COCO mAP@[.5:.95], mAP50, mAP75, "
        "AP small/medium, per-class and per-group AP, precision/recall at a score threshold. Writes "
        "report.json, report.md, pr_curves.png, confusion_matrix.png and overlays/.",
    )
    parser.add_argument("--weights", metavar="CKPT", help=f"checkpoint to evaluate (default: {DEFAULT_WEIGHTS}; with "
                        "--detections only its class list and config are used)")
    parser.add_argument("--detections", metavar="DETS.json", help="COCO results JSON to score instead of running a model: a list of "
                        "{image_id, category_id (DSv2 deepscores id), bbox [x, y, w, h] in page pixels, score}")
    parser.add_argument("--data", metavar="PATH", help="DSv2-format folder (holding deepscores_<split>.json and images/) or an "
                        "annotation JSON file (default: the checkpoint config's dataset, i.e. the synthetic "
                        "default dataset)")
    parser.add_argument("--split", metavar="SPLIT", default="val", help="split to evaluate: val (DSv2's test file), train, test "
                        "(default: val)")
    parser.add_argument("--out", metavar="DIR", help=f"output folder (default: {DEFAULT_OUT_ROOT}/<checkpoint or detections name>)")
    parser.add_argument("--score-thresh", metavar="T", type=float, help="operating score threshold for precision/recall, "
                        "the overlays and the confusion matrix (default: the checkpoint config's eval.score_thresh, 0.5 unless set); "
                        "AP always uses every detection")
    parser.add_argument("--max-pages", metavar="N", type=int, help="evaluate only the first N pages (default: all)")
    parser.add_argument("--overlays", metavar="N", type=int, help="pages to draw overlays of (default: eval.overlay_pages, 2)")
    parser.add_argument("--device", metavar="DEVICE", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    try:
        run_evaluation(**vars(args))
    except EvalInputError as err:
        print(f"eval.py: error: {err}", file=sys.stderr)
        sys.exit(2)
