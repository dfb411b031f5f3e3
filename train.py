"""Train a music-symbol detector: ``python train.py --config configs/stage2.yaml``.

Arguments only; the work is ``detector.engine.trainer.train``. Multi-process:
``torchrun --nproc_per_node 2 train.py --config ...``.
"""
import argparse
import sys

from detector.engine.cli import run_training_command


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train the music-symbol detector (explicit loop, NaN guard, resumable checkpoints, "
                    "TensorBoard logs in runs/NAME/). Exit status: 0 done, 2 bad config or path, "
                    "3 stopped by the NaN guard.")
    parser.add_argument("--config", required=True, help="YAML config file, e.g. configs/stage2.yaml")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                        help="override config keys, value read as YAML: --set train.lr0=0.01 train.epochs=2")
    parser.add_argument("--resume", metavar="PATH|auto",
                        help="continue a run exactly: 'auto' = the latest good checkpoint in runs/NAME/, "
                             "or a checkpoint file / run folder")
    parser.add_argument("--run-name",
                        help="run folder name under log.runs_dir (default: the config file's stem)")
    parser.add_argument("--debug-grads", action="store_true",
                        help="log per-layer gradient/weight norms and activation stats every step; on the "
                             "first "
                             "non-finite value name the module and dump the step to runs/NAME/nan_dumps/ "
                             "(replay: python -m detector.engine.replay DUMP)")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    sys.exit(run_training_command(args.config, args.set, args.resume, args.run_name, args.debug_grads))
