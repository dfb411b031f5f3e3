"""Resize whole pages, or crop at native resolution? Train both the same way and compare.

The plan resizes pages to a 1024 long side to save memory; this project trains on
native-resolution crops instead, because a ~2700 x 3800 page shrunk to 1024 turns 20 px
noteheads and dots into 5 px ones. This script measures it: the same config, the same
synthetic data, the same number of steps, ``data.mode=crop`` versus ``data.mode=resize``,
then the same full-page evaluation (per-group AP, small symbols especially), peak memory and
time. Each mode trains in its own process, so peak memory is that mode's own.

    python -m detector.ablation --config configs/quickstart.yaml --steps 150 --threads 1
    python -m detector.ablation --config configs/stage2.yaml --steps 5000 --resize-imgsz 1024

Writes ``<out>/ablation.json`` and ``<out>/ablation.md`` and prints the table.
"""
from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional

MODES = ("crop", "resize")


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m detector.ablation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/quickstart.yaml", help="base config (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=150, help="optimizer steps per mode (default: %(default)s)")
    parser.add_argument("--crop-imgsz", type=int, help="crop side for crop mode (default: the config's data.imgsz)")
    parser.add_argument("--resize-imgsz", type=int, help="long side for resize mode (default: the config's data.imgsz)")
    parser.add_argument("--eval-pages", type=int, default=2, help="validation pages evaluated (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads per run (default: %(default)s)")
    parser.add_argument("--out", default="runs/ablation", help="output folder (default: %(default)s)")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES), help="modes to run (default: both)")
    parser.add_argument("overrides", nargs="*", help="config overrides key=value, applied to both modes")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)  # one mode, in its own process
    parser.add_argument("--data-root", help=argparse.SUPPRESS)  # pinned by the parent: both arms, same pages
    return parser.parse_args(argv)


def mode_overrides(args: argparse.Namespace, mode: str, epochs: int, imgsz: int) -> list[str]:
    """Config overrides for one arm: only the mode and its image size differ between arms.

    The step budget keeps the config's epoch structure (so warmup stays the same fraction);
    validation inside training is off: both arms are evaluated afterwards, identically.
    """
    steps_per_epoch = max(1, math.ceil(args.steps / epochs))
    pinned = [f"data.root={args.data_root}"] if args.data_root else []
    return [*args.overrides, *pinned, f"data.mode={mode}", f"data.imgsz={imgsz}", f"train.steps_per_epoch={steps_per_epoch}",
            f"train.threads={args.threads}", "eval.every_epochs=0", f"eval.max_pages={args.eval_pages}",
            f"checkpoint.every_steps={steps_per_epoch * epochs}", f"log.runs_dir={args.out}", f"log.run_name={mode}"]


def run_arm(args: argparse.Namespace) -> dict:
    """Train and evaluate one mode (runs in the child process); returns its measurements."""
    import torch

    from detector.config import load_config
    from detector.data.deepscores import load_deepscores, split_json_path
    from detector.data.dataset import resolve_data_root
    from detector.engine.tb_logging import peak_memory_mb
    from detector.engine.trainer import train
    from detector.evaluation.inference import evaluate_model

    torch.set_num_threads(args.threads)
    base = load_config(args.config, args.overrides)
    imgsz = (args.crop_imgsz if args.child == "crop" else args.resize_imgsz) or base.data.imgsz
    cfg = load_config(args.config, mode_overrides(args, args.child, base.train.epochs, imgsz))
    trained = train(cfg)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model, model_cfg, class_names = _trained_model(trained["last_checkpoint"], device)
    pages = load_deepscores(split_json_path(resolve_data_root(cfg), cfg.data.val_split), classes=class_names).pages
    pages = pages[: args.eval_pages] if args.eval_pages > 0 else pages
    start = time.perf_counter()
    report = evaluate_model(model, pages, class_names, model_cfg, device)
    report.save(Path(trained["run_dir"]))
    return {
        "mode": args.child, "imgsz": imgsz, "steps": trained["steps"], "batch_size": cfg.train.batch_size,
        "train_s": trained["wall_s"], "train_peak_mb": trained["peak_memory_mb"], "final_loss": trained["final_loss"],
        "eval_s": time.perf_counter() - start, "peak_mb_with_eval": peak_memory_mb(torch.device(device)),
        "eval_pages": len(pages), "summary": report.summary,
        "per_group": {g.name: {"map": g.map, "map50": g.map50, "map_small": g.map_small, "instances": g.instances}
                      for g in report.per_group},
        "run_dir": trained["run_dir"], "data_root": str(resolve_data_root(cfg)),
    }


def _trained_model(path: str, device: str):
    """(model, cfg, class_names) from the training checkpoint the run just wrote.

    Read with the engine's reader: a training checkpoint holds RNG states (numpy arrays)
    that ``model_io.load_model``'s weights-only load refuses; the file is our own, so trusted.
    """
    from detector.config import config_from_dict
    from detector.engine.checkpoint import read_checkpoint
    from detector.model import build_model

    state = read_checkpoint(Path(path))
    cfg = config_from_dict(state["config"])
    model = build_model(cfg.model, len(state["class_names"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), cfg, list(state["class_names"])


def _fmt(value, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(arms: list[dict]) -> str:
    """The comparison as two markdown tables: overview and per group."""
    head = "| | " + " | ".join(a["mode"] for a in arms) + " |\n|---|" + "---|" * len(arms) + "\n"
    rows = [("image size (crop side / long side)", lambda a: a["imgsz"]), ("steps x batch", lambda a: f"{a['steps']} x {a['batch_size']}"),
            ("train time, s", lambda a: _fmt(a["train_s"], 0)), ("s / step", lambda a: _fmt(a["train_s"] / max(a["steps"], 1), 2)),
            ("peak memory in training, MiB", lambda a: _fmt(a["train_peak_mb"], 0)), ("final loss", lambda a: _fmt(a["final_loss"])),
            (f"eval time ({arms[0]['eval_pages']} pages), s", lambda a: _fmt(a["eval_s"], 1))]
    rows += [(title, lambda a, k=key: _fmt(a["summary"][k])) for key, title in
             (("map", "mAP@[.5:.95]"), ("map50", "mAP50"), ("map_small", "AP small"), ("map_medium", "AP medium"),
              ("precision", "precision"), ("recall", "recall"))]
    text = head + "".join(f"| {title} | " + " | ".join(str(get(a)) for a in arms) + " |\n" for title, get in rows)
    groups = [g for g in arms[0]["per_group"] if arms[0]["per_group"][g]["instances"]]
    text += "\n| group (instances) | " + " | ".join(f"{a['mode']} mAP | {a['mode']} AP small" for a in arms) + " |\n"
    text += "|---|" + "---|---|" * len(arms) + "\n"
    for g in groups:
        cells = " | ".join(f"{_fmt(a['per_group'][g]['map'])} | {_fmt(a['per_group'][g]['map_small'])}" for a in arms)
        text += f"| {g} ({arms[0]['per_group'][g]['instances']}) | {cells} |\n"
    return text


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    if args.child:
        (out / f"{args.child}.json").write_text(json.dumps(run_arm(args), indent=2))
        return 0
    from detector.config import ConfigError, load_config
    from detector.data.dataset import resolve_data_root

    try:  # generate the data once, untimed, and pin it: a generator change mid-run cannot split the arms
        data_root = resolve_data_root(load_config(args.config, args.overrides)).resolve()
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    child_args = list(argv if argv is not None else sys.argv[1:]) + ["--data-root", str(data_root)]
    for mode in args.modes:
        print(f"ablation: training data.mode={mode} for {args.steps} steps on {data_root} ...", flush=True)
        done = subprocess.run([sys.executable, "-m", "detector.ablation", *child_args, "--child", mode])
        if done.returncode != 0:
            print(f"error: the {mode} run failed (exit {done.returncode}); see its output above", file=sys.stderr)
            return 1
    # arms measured earlier into the same folder (e.g. --modes crop, then --modes resize) join the table
    arms = [json.loads((out / f"{mode}.json").read_text()) for mode in MODES if (out / f"{mode}.json").is_file()]
    if len({a.get("data_root") for a in arms}) > 1:
        print("warning: the arms were trained on different data roots; rerun both", file=sys.stderr)
    table = markdown_table(arms)
    (out / "ablation.json").write_text(json.dumps({"config": args.config, "overrides": args.overrides, "arms": arms}, indent=2))
    (out / "ablation.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
