"""Engine test helpers: a DSv2-format folder around the real sample page, a tiny CPU config."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from detector.config import Config, config_from_dict


@pytest.fixture(scope="session")
def dsv2_root(tmp_path_factory, dsv2_sample_dir: Path) -> Path:
    """The real sample page laid out as a dataset root (it serves as train and val split)."""
    root = tmp_path_factory.mktemp("dsv2_root")
    (root / "images").symlink_to(dsv2_sample_dir / "images")
    for split in ("train", "test"):
        (root / f"deepscores_{split}.json").symlink_to(dsv2_sample_dir / "deepscores_v2_sample.json")
    return root


def tiny_values(root: Path, runs_dir: Path, **sections) -> dict:
    """A seconds-sized recipe: quarter-width ResNet-18, 96 px crops, batch 2, CPU, 1 thread."""
    values = {
        "data": {"root": str(root), "imgsz": 96, "num_workers": 0},
        "model": {"backbone": "resnet18", "width": 0.25, "fpn_levels": [2, 3, 4], "fpn_channels": 32,
                  "head_convs": 1, "tile_size": 512, "tile_overlap": 64},
        "train": {"epochs": 3, "steps_per_epoch": 4, "batch_size": 2, "lr0": 0.01, "warmup_epochs": 1,
                  "threads": 1, "device": "cpu"},
        "guard": {"max_bad_steps": 2, "window": 10},
        "checkpoint": {"every_steps": 3, "keep_last": 3},
        "eval": {"every_epochs": 0},
        "log": {"runs_dir": str(runs_dir), "run_name": "tiny", "every_steps": 2},
    }
    for section, updates in sections.items():
        values[section].update(updates)
    return values


def tiny_config(root: Path, runs_dir: Path, **sections) -> Config:
    """:func:`tiny_values` as a validated Config."""
    return config_from_dict(tiny_values(root, runs_dir, **sections))


def read_jsonl(path: Path) -> list[dict]:
    """All records of a JSONL file."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def checkpoint_weights_finite(path: Path) -> bool:
    """True when every tensor of the checkpoint's model state is finite."""
    state = torch.load(path, map_location="cpu", weights_only=False)["model"]
    return all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())


@pytest.fixture(autouse=True)
def _one_thread():
    """2 shared cores: tests run torch on one thread."""
    torch.set_num_threads(1)
    yield
