"""The crop-versus-resize ablation: both arms differ only in data.mode and the image size."""
from __future__ import annotations

from pathlib import Path

from detector.ablation import markdown_table, mode_overrides, parse_args
from detector.config import config_to_dict, load_config

QUICKSTART = Path(__file__).resolve().parents[2] / "configs" / "quickstart.yaml"


def test_the_two_arms_differ_only_in_mode_and_image_size():
    # given the quickstart config and a 120-step budget
    args = parse_args(["--config", str(QUICKSTART), "--steps", "120", "--resize-imgsz", "512"])
    base = load_config(args.config)
    # when each arm's config is built
    crop = config_to_dict(load_config(args.config, mode_overrides(args, "crop", base.train.epochs, 256)))
    resize = config_to_dict(load_config(args.config, mode_overrides(args, "resize", base.train.epochs, 512)))
    # then they train equally long, validate nowhere in training, and differ in three keys only
    assert crop["train"]["steps_per_epoch"] * crop["train"]["epochs"] == 120
    assert crop["eval"]["every_epochs"] == 0
    differing = {(section, key) for section in crop for key in crop[section]
                 if crop[section][key] != resize[section][key]}
    assert differing == {("data", "mode"), ("data", "imgsz"), ("log", "run_name")}


def test_the_table_compares_the_arms_per_group():
    arm = {"mode": "crop", "imgsz": 256, "steps": 120, "batch_size": 4, "train_s": 300.0, "train_peak_mb": 900.0,
           "final_loss": 1.5, "eval_s": 60.0, "eval_pages": 2,
           "summary": {"map": 0.1, "map50": 0.2, "map_small": 0.05, "map_medium": None, "precision": 0.5, "recall": 0.4},
           "per_group": {"noteheads": {"map": 0.3, "map50": 0.5, "map_small": 0.25, "instances": 300},
                         "clefs": {"map": None, "map50": None, "map_small": None, "instances": 0}}}
    table = markdown_table([arm, {**arm, "mode": "resize"}])
    assert "| s / step | 2.50 | 2.50 |" in table
    assert "| noteheads (300) | 0.300 | 0.250 | 0.300 | 0.250 |" in table
    assert "clefs" not in table  # no ground truth: no row
