"""One typed configuration object for the whole pipeline, loaded from YAML.

The config is validated once, at the start, with errors that name the offending key (and the
nearest valid key for a typo). It is then passed down explicitly: no module reads a global.
A checkpoint stores ``config_to_dict(cfg)`` so that a checkpoint alone rebuilds its model.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Optional, Union

import yaml


class ConfigError(ValueError):
    """A bad configuration: the message is one line that names the key or path."""


@dataclass
class AugmentConfig:
    """Scan-like augmentation of training crops (all drawn from the data seed)."""

    rotation_deg: float = 1.5  # max |rotation|, degrees: scans are rarely straighter
    scale_jitter: float = 0.2  # page scale drawn from [1-j, 1+j]: staff space varies by engraver
    blur_prob: float = 0.3  # probability of a Gaussian blur (sigma 0.3-1.2 px)
    noise_prob: float = 0.3  # probability of additive Gaussian noise (sigma up to 0.08)
    binarize_prob: float = 0.15  # probability of thresholding the crop (fax-like scans)
    jpeg_prob: float = 0.3  # probability of JPEG re-compression (quality 30-90)
    contrast_prob: float = 0.3  # probability of a random contrast / background-gray change


@dataclass
class DataConfig:
    """Where pages come from and how training samples are cut from them."""

    root: Optional[str] = None  # DSv2-format folder; None = the synthetic default dataset
    synthetic_dir: str = "data/synthetic"  # default dataset goes to <synthetic_dir>/s<seed>-p<pages>/
    synthetic_pages: int = 60  # pages to generate for the default dataset (train + val)
    synthetic_seed: int = 0  # generator seed: same seed, same pages
    train_split: str = "train"  # reads deepscores_<split>.json under root
    val_split: str = "test"  # DSv2 ships train/test; the generator writes the same names
    classes: Union[str, list] = "stage2"  # a preset name or an explicit list of DSv2 names
    mode: Literal["crop", "resize"] = "crop"  # native-resolution crops, or whole pages resized
    imgsz: int = 1024  # crop side (crop mode) or the long side of the resized page (resize)
    rare_class_boost: float = 2.0  # >1 favours crops that contain rare classes
    num_workers: int = 0  # DataLoader workers
    cache_mb: int = 2048  # decoded pages kept in memory per process (a DSv2 page is ~10 MB gray)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    mosaic: bool = False  # Stage-2: mosaic off (it cuts symbols and mixes staff sizes)


@dataclass
class ModelConfig:
    """The anchor-free detector: ResNet + FPN + shared heads."""

    backbone: Literal["resnet18", "resnet34", "resnet50"] = "resnet18"
    norm: Literal["group", "batch", "frozen_batch"] = "group"  # backbone normalisation
    width: float = 1.0  # channel multiplier of the ResNet stages (<1 for a tiny CPU model)
    fpn_levels: list = field(default_factory=lambda: [2, 3, 4, 5])  # P2 = stride 4
    fpn_channels: int = 128
    head_convs: int = 2  # conv layers in each head tower
    assignment: Literal["fcos", "atss"] = "fcos"
    center_sampling_radius: float = 1.5  # in units of the level's stride
    prior_prob: float = 0.01  # classification bias init: sigmoid(bias) = prior_prob
    score_thresh: float = 0.05  # decoding threshold (evaluation keeps low scores)
    nms_thresh: float = 0.5  # class-aware NMS IoU
    # Class-agnostic NMS IoU applied after the class-aware one (one class per box); None = off.
    # Off by default: on 8 held-out synthetic pages (weights/default.pt v1) 0.7 raised
    # precision at 0.3 from 0.235 to 0.435 but cut recall 0.954 -> 0.921 and mAP 0.429 -> 0.417
    # (noteheads 0.731 -> 0.632: a small notehead's right label is often the second one).
    # Reconstruction keeps one box per symbol on its own (reconstruct.pipeline.one_box_per_symbol).
    cross_class_nms_thresh: Optional[float] = None
    topk_per_level: int = 1000  # candidates per level before NMS
    max_detections: int = 2000  # per page; a DSv2 page holds about 650 objects
    tile_size: int = 1024  # full-page inference tile side, pixels
    tile_overlap: int = 128  # tiles overlap so a symbol is whole in at least one tile


@dataclass
class TrainConfig:
    """The optimisation recipe (Stage-2 defaults)."""

    epochs: int = 50
    steps_per_epoch: int = 500  # crops are sampled, so an epoch is a fixed number of steps
    batch_size: int = 4
    accumulate: int = 1  # gradient accumulation: effective batch = batch_size * accumulate
    optimizer: Literal["sgd"] = "sgd"
    lr0: float = 0.001
    momentum: float = 0.937
    weight_decay: float = 0.0005  # not applied to norms and biases
    warmup_epochs: float = 5.0  # linear warmup from warmup_start_factor * lr0 to lr0
    warmup_start_factor: float = 0.001
    schedule: Literal["cosine", "step", "constant"] = "cosine"
    final_lr_factor: float = 0.01  # cosine ends at lr0 * final_lr_factor
    step_milestones: list = field(default_factory=lambda: [0.7, 0.9])  # fractions of training
    step_gamma: float = 0.1
    clip_grad_norm: Optional[float] = 10.0  # max-norm; null disables clipping
    amp: bool = False  # mixed precision (CUDA only); off at first per the plan
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int = 0  # torch CPU threads; 0 = torch's default
    init_weights: Optional[str] = None  # start from this model's weights (fine-tuning); null = fresh init


@dataclass
class GuardConfig:
    """The NaN guard: a non-finite loss or gradient never reaches the weights."""

    enabled: bool = True
    max_bad_steps: int = 3  # bad steps within `window` steps that trigger a rollback
    window: int = 50
    lr_factor: float = 0.5  # learning rate multiplied by this on each rollback
    max_rollbacks: int = 3  # then stop with a diagnosis
    loss_spike_factor: Optional[float] = 10.0  # a loss above this x the recent median is a bad step too; null = off


@dataclass
class CheckpointConfig:
    """Atomic, resumable checkpoints."""

    every_steps: int = 500
    keep_last: int = 3
    keep_best: bool = True  # by validation mAP


@dataclass
class EvalConfig:
    """Validation and evaluation settings."""

    every_epochs: int = 1
    max_pages: int = 0  # 0 = all validation pages
    # Operating threshold for precision / recall and for the symbols reconstruct.py reads.
    # Scores are sqrt(class prob * centerness), so 0.3 is low: for the default model on 8
    # held-out synthetic pages, precision / recall were 0.24 / 0.95 at 0.3 and 0.80 / 0.90 at 0.5.
    score_thresh: float = 0.5
    max_dets: int = 2000  # COCOeval maxDets (the default 100 truncates dense pages)
    overlay_pages: int = 2  # prediction overlays logged to TensorBoard


@dataclass
class LogConfig:
    """TensorBoard and console logging."""

    runs_dir: str = "runs"
    run_name: Optional[str] = None  # default: the config file's stem
    every_steps: int = 10
    debug_grads: bool = False  # per-layer gradient/weight/activation statistics every step


@dataclass
class Config:
    """Everything a run needs."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    log: LogConfig = field(default_factory=LogConfig)


# --------------------------------------------------------------------------- loading


def _type_ok(value: Any, annotation: Any) -> tuple[bool, Any]:
    """Check (and gently coerce: int -> float) ``value`` against a field annotation."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return value in typing.get_args(annotation), value
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is type(None):
                if value is None:
                    return True, None
                continue
            ok, coerced = _type_ok(value, arg)
            if ok:
                return True, coerced
        return False, value
    if annotation is float:
        if isinstance(value, bool):
            return False, value
        if isinstance(value, (int, float)):
            return True, float(value)
        return False, value
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool), value
    if annotation is bool:
        return isinstance(value, bool), value
    if annotation is str:
        return isinstance(value, str), value
    if annotation is list:
        return isinstance(value, list), value
    return True, value


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(annotation))
    return getattr(annotation, "__name__", str(annotation)).replace("NoneType", "null")


def _build(cls: type, values: dict, prefix: str) -> Any:
    """Build dataclass ``cls`` from a dict, naming the key of the first problem found."""
    if not isinstance(values, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.5)
            hint = f" (did you mean {prefix}{close[0]}?)" if close else f" (valid: {', '.join(fields)})"
            raise ConfigError(f"unknown config key {prefix}{key}{hint}")
        annotation = hints[key]
        if dataclasses.is_dataclass(annotation):
            kwargs[key] = _build(annotation, value or {}, f"{prefix}{key}.")
            continue
        ok, coerced = _type_ok(value, annotation)
        if not ok:
            raise ConfigError(
                f"config key {prefix}{key}: expected {_describe(annotation)}, got {value!r}"
            )
        kwargs[key] = coerced
    return cls(**kwargs)


def _validate(cfg: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    from detector.data.classes import UnknownClassError, resolve_classes

    try:
        resolve_classes(cfg.data.classes)
    except UnknownClassError as err:
        raise ConfigError(f"config key data.classes: {err}") from None
    positive = {
        "train.batch_size": cfg.train.batch_size,
        "train.accumulate": cfg.train.accumulate,
        "train.steps_per_epoch": cfg.train.steps_per_epoch,
        "train.epochs": cfg.train.epochs,
        "data.imgsz": cfg.data.imgsz,
        "model.tile_size": cfg.model.tile_size,
        "model.fpn_channels": cfg.model.fpn_channels,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"config key {key}: must be > 0, got {value}")
    if cfg.train.lr0 <= 0:
        raise ConfigError(f"config key train.lr0: must be > 0, got {cfg.train.lr0}")
    if cfg.train.clip_grad_norm is not None and cfg.train.clip_grad_norm <= 0:
        raise ConfigError("config key train.clip_grad_norm: must be > 0 or null (off)")
    if not cfg.model.fpn_levels or any(lvl not in (2, 3, 4, 5, 6, 7) for lvl in cfg.model.fpn_levels):
        raise ConfigError(f"config key model.fpn_levels: levels must be within 2..7, got {cfg.model.fpn_levels}")
    if cfg.model.tile_overlap >= cfg.model.tile_size:
        raise ConfigError("config key model.tile_overlap: must be smaller than model.tile_size")
    if cfg.train.init_weights is not None and not Path(cfg.train.init_weights).is_file():
        raise ConfigError(f"config key train.init_weights: no such file: {cfg.train.init_weights}")
    if cfg.data.root is not None and not Path(cfg.data.root).exists():
        raise ConfigError(f"config key data.root: no such directory: {cfg.data.root}")


def _parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``a.b=value`` (value read as YAML, so 0.01, true, null and [1,2] work)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r}: expected key=value, e.g. train.lr0=0.01")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def config_from_dict(values: dict, overrides: Optional[list[str]] = None) -> Config:
    """Build and validate a Config from a plain dict plus ``key=value`` overrides."""
    values = dict(values or {})
    for text in overrides or []:
        path, value = _parse_override(text)
        node = values
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {text!r}: {part} is not a section")
        node[path[-1]] = value
    cfg = _build(Config, values, "")
    _validate(cfg)
    return cfg


def load_config(path: Optional[str | Path], overrides: Optional[list[str]] = None) -> Config:
    """Load a YAML config file (or the defaults when ``path`` is None) and apply overrides.

    Raises:
        ConfigError: missing file, bad YAML, unknown key, wrong type or invalid value.
    """
    values: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            values = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise ConfigError(f"config file {path}{where}: not valid YAML") from None
    cfg = config_from_dict(values, overrides)
    if cfg.log.run_name is None and path is not None:
        cfg.log.run_name = Path(path).stem
    return cfg


def config_to_dict(cfg: Config) -> dict:
    """Plain-dict form of a config (stored in checkpoints and reports)."""
    return dataclasses.asdict(cfg)
