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
    message = r"data\.classes: 'noteheadBlak' is not a DeepScoresV2 class; closest: noteheadBlack"
    with pytest.raises(ConfigError, match=message):
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


# --------------------------------------------------------------------------- values, per section


@pytest.mark.parametrize("override, key", [
    ("checkpoint.every_steps=0", "checkpoint.every_steps"),  # modulo by zero after the first step
    ("log.every_steps=0", "log.every_steps"),
    ("guard.window=0", "guard.window"),
    ("eval.score_thresh=7", "eval.score_thresh"),  # a threshold outside [0, 1]
    ("model.score_thresh=-0.1", "model.score_thresh"),
    ("model.nms_thresh=1.5", "model.nms_thresh"),
    ("model.tile_overlap=-5", "model.tile_overlap"),
    ("train.momentum=1", "train.momentum"),
    ("data.augment.blur_prob=2", "data.augment.blur_prob"),
    ("guard.lr_factor=0", "guard.lr_factor"),
    ("checkpoint.keep_last=0", "checkpoint.keep_last"),
    ("eval.max_dets=0", "eval.max_dets"),
])
def test_out_of_range_values_name_the_key_and_the_range(override, key):
    # given one value outside its range, when the config is built, then one line names the key
    pattern = rf"^config key {key.replace('.', '[.]')}: must be in .*, got"
    with pytest.raises(ConfigError, match=pattern) as err:
        config_from_dict({}, [override])
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("override, message", [
    ('train.step_milestones=["a"]', r"train\.step_milestones: expected fractions of training in \(0, 1\)"),
    ("train.step_milestones=[0.9, 0.7]", r"train\.step_milestones: must be increasing"),
    ("train.step_milestones=[70]", r"train\.step_milestones: expected fractions"),
    ("model.fpn_levels=[3, 3.5]", r"model\.fpn_levels: levels must be integers"),
    ("model.fpn_levels=[4, 3]", r"model\.fpn_levels: levels must be increasing"),
    ("data.classes=[1, 2]", r"data\.classes: expected a preset name or a list of class names"),
    ("train.device=gpu", r"train\.device: expected auto, cpu, mps, cuda or cuda:N"),
    ("guard.max_bad_steps=9", r"guard\.max_bad_steps: 9 bad steps can never fit in guard\.window=5"),
])
def test_bad_list_items_and_strings_name_the_key(override, message):
    overrides = [override] + (["guard.window=5"] if override.startswith("guard") else [])
    with pytest.raises(ConfigError, match=message):
        config_from_dict({}, overrides)


def test_features_that_do_not_exist_are_refused_with_a_reason():
    with pytest.raises(ConfigError, match=r"data\.mosaic: mosaic is not implemented \(it cuts symbols"):
        config_from_dict({"data": {"mosaic": True}})


def test_dataloader_workers_are_a_count_from_zero():
    assert config_from_dict({"data": {"num_workers": 2}}).data.num_workers == 2
    with pytest.raises(ConfigError, match=r"data\.num_workers"):
        config_from_dict({"data": {"num_workers": -1}})


def test_adamw_is_the_optimizer_it_names():
    import torch

    from detector.engine.optim import build_optimizer

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.GroupNorm(1, 2))
    for name, kind in (("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)):
        cfg = config_from_dict({"train": {"optimizer": name, "weight_decay": 0.05}})
        optimizer = build_optimizer(model, cfg.train)
        assert type(optimizer) is kind
        assert [g["weight_decay"] for g in optimizer.param_groups] == [0.05, 0.0]  # norms and biases free


def test_every_config_key_is_read_somewhere_or_refused():
    # given every field of every section, then some module other than config.py reads it
    # (``.key``), or the config refuses every value but the default (NOT_IMPLEMENTED)
    import dataclasses

    from detector.config import NOT_IMPLEMENTED, Config

    sources = "\n".join(p.read_text() for p in (REPO_ROOT / "detector").rglob("*.py")
                        if p.name != "config.py")
    sources += (REPO_ROOT / "train.py").read_text()

    def keys(cls, prefix):
        for f in dataclasses.fields(cls):
            if dataclasses.is_dataclass(f.type if isinstance(f.type, type) else None):
                yield from keys(f.type, f"{prefix}{f.name}.")
            else:
                yield f"{prefix}{f.name}", f.name

    unused = [key for key, name in keys(Config, "")
              if f".{name}" not in sources and key not in NOT_IMPLEMENTED]
    assert not unused


# --------------------------------------------------------------------------- finding the file


def test_bare_config_name_resolves_to_the_shipped_config(tmp_path, monkeypatch):
    # given a working folder without the file, when the README's command names it bare
    monkeypatch.chdir(tmp_path)
    for name in ("stage2.yaml", "stage2"):
        cfg = load_config(name)
        assert cfg.data.imgsz == 1024 and cfg.log.run_name == "stage2"


def test_a_local_file_wins_over_the_shipped_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stage2.yaml").write_text("train:\n  epochs: 3\n")
    assert load_config("stage2.yaml").train.epochs == 3


def test_missing_config_lists_the_shipped_configs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"config file not found: stage3\.yaml \(shipped configs in .*: "
                                          r".*quickstart\.yaml, .*stage2\.yaml") as err:
        load_config("stage3.yaml")
    assert "\n" not in str(err.value)


def test_train_cli_exits_2_on_a_bad_value_and_finds_a_bare_name(tmp_path, monkeypatch):
    import subprocess
    import sys

    monkeypatch.chdir(tmp_path)
    done = subprocess.run([sys.executable, str(REPO_ROOT / "train.py"), "--config", "quickstart.yaml",
                           "--set", "eval.score_thresh=7"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: config key eval.score_thresh: must be in [0, 1], got 7.0"
