"""The config loader: typed, validated once, errors that name the key."""
from __future__ import annotations

from pathlib import Path

import pytest

from detector.config import ConfigError, config_from_dict, config_to_dict, load_config
from detector.data.classes import STAGE2_CLASSES, resolve_classes

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_stage2_config_carries_the_plan_settings():
    cfg = load_config(REPO_ROOT / "configs" / "stage2.yaml")
    assert cfg.data.imgsz == 1024
    assert 2 <= cfg.train.batch_size <= 4 and cfg.train.batch_size == 4
    assert cfg.train.optimizer == "sgd" and cfg.train.momentum > 0
    assert cfg.train.lr0 == pytest.approx(0.001)
    assert cfg.train.warmup_epochs == 5
    assert cfg.train.clip_grad_norm == pytest.approx(10.0)
    assert cfg.data.mosaic is False
    assert cfg.train.amp is False
    classes = resolve_classes(cfg.data.classes)
    assert classes == STAGE2_CLASSES
    for excluded in ("stem", "ledgerLine", "beam", "staff"):
        assert excluded not in classes
    assert cfg.log.run_name == "stage2"


def test_every_stage2_key_is_documented_by_a_comment():
    for line in (REPO_ROOT / "configs" / "stage2.yaml").read_text().splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not stripped.endswith(":"):
            assert "#" in stripped, f"undocumented key: {stripped}"


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO_ROOT / "configs").glob("*.yaml")))
def test_every_shipped_config_loads(name):
    load_config(REPO_ROOT / "configs" / name)


def test_typo_names_the_nearest_key():
    with pytest.raises(ConfigError, match=r"unknown config key train\.lr_0 \(did you mean train\.lr0\?\)"):
        config_from_dict({"train": {"lr_0": 0.01}})


def test_wrong_type_names_the_key():
    with pytest.raises(ConfigError, match=r"train\.batch_size: expected int"):
        config_from_dict({"train": {"batch_size": "four"}})


def test_bad_literal_lists_the_choices():
    with pytest.raises(ConfigError, match=r"model\.backbone: expected one of 'resnet18'"):
        config_from_dict({"model": {"backbone": "resnet101"}})


def test_unknown_class_name_lists_close_names():
    with pytest.raises(ConfigError, match=r"data\.classes: 'noteheadBlak' is not a DeepScoresV2 class; closest: noteheadBlack"):
        config_from_dict({"data": {"classes": ["noteheadBlak"]}})


def test_alias_is_accepted_and_canonicalised():
    assert resolve_classes(["legerLine", "clefG"]) == ("ledgerLine", "clefG")


def test_missing_file_and_missing_data_root_name_the_path(tmp_path):
    with pytest.raises(ConfigError, match="config file not found: .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="data.root: no such directory"):
        config_from_dict({"data": {"root": str(tmp_path / "missing")}})


def test_overrides_are_parsed_as_yaml_and_validated():
    cfg = config_from_dict({}, ["train.lr0=0.01", "train.clip_grad_norm=null", "model.fpn_levels=[3,4,5]"])
    assert cfg.train.lr0 == pytest.approx(0.01)
    assert cfg.train.clip_grad_norm is None
    assert cfg.model.fpn_levels == [3, 4, 5]
    with pytest.raises(ConfigError, match="unknown config key train.bogus"):
        config_from_dict({}, ["train.bogus=1"])


def test_round_trip_through_a_plain_dict():
    cfg = load_config(REPO_ROOT / "configs" / "quickstart.yaml")
    again = config_from_dict(config_to_dict(cfg))
    assert again == cfg
