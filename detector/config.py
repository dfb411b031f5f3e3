"""One typed configuration object for the whole pipeline, loaded from YAML.

The config is validated once, at the start, with errors that name the offending key (and the
nearest valid key for a typo). It is then passed down explicitly: no module reads a global.
A checkpoint stores ``config_to_dict(cfg)`` so that a checkpoint alone rebuilds its model.
"""
from __future__ import annotations

import dataclasses
import difflib
import re
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
    num_workers: int = 0  # DataLoader worker processes cutting crops ahead (0: in the training process)
    cache_mb: int = 2048  # decoded pages kept in memory per process (a DSv2 page is ~10 MB gray)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    mosaic: bool = False  # only false: mosaic is not implemented (it cuts symbols and mixes staff sizes)


@dataclass
class ModelConfig:
    """The anchor-free detector: ResNet + FPN + shared heads."""

    backbone: Literal["resnet18", "resnet34", "resnet50"] = "resnet18"
    norm: Literal["group", "batch", "frozen_batch"] = "group"  # backbone normalisation
    width: float = 1.0  # channel multiplier of the ResNet stages (<1 for a tiny CPU model)
    fpn_levels: list = field(default_factory=lambda: [2, 3, 4, 5])  # P2 = stride 4
    fpn_channels: int = 128
    head_convs: int = 2  # conv layers in each head tower
    # kernel of the class/box/centerness output convs: 3 (FCOS) or 1, 9x cheaper where a page
    # costs most (the stride-4 level: 132 classes x 64 channels at every 4th pixel)
    head_kernel: Literal[1, 3] = 3
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
    topk_per_level: int = 1000  # candidates per level before NMS, per 1024 x 1024 px of image
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
    optimizer: Literal["sgd", "adamw"] = "sgd"  # sgd: Nesterov momentum; adamw: betas (momentum, 0.999)
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
    # with init_weights: a head of another shape (fewer tower convs, 1x1 outputs) starts from the
    # checkpoint's (first tower convs; 3x3 outputs summed over their taps) instead of failing
    init_adapt_head: bool = False


@dataclass
class GuardConfig:
    """The NaN guard: a non-finite loss or gradient never reaches the weights."""

    enabled: bool = True
    max_bad_steps: int = 3  # bad steps within `window` steps that trigger a rollback
    window: int = 50
    lr_factor: float = 0.5  # learning rate multiplied by this on each rollback
    max_rollbacks: int = 3  # then stop with a diagnosis
    # a loss above this x the recent median is a bad step too; null = off
    loss_spike_factor: Optional[float] = 10.0


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
        where = prefix.rstrip(".") or "config"
        raise ConfigError(f"{where}: expected a mapping, got {type(values).__name__}")
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


#: ``data.mosaic`` names a feature that does not exist: refused with the reason.
NOT_IMPLEMENTED = {
    "data.mosaic": "mosaic is not implemented (it cuts symbols at tile edges and mixes staff sizes); "
                   "set false",
}

_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def _check(key: str, value: Any, low: Optional[float] = None, high: Optional[float] = None,
           low_open: bool = False, high_open: bool = False) -> None:
    """``value`` within ``[low, high]`` (an open end excludes the bound), or a ConfigError naming ``key``."""
    if value is None:
        return
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        low_text = "-inf" if low is None else f"{low:g}"
        high_text = "inf" if high is None else f"{high:g}"
        raise ConfigError(f"config key {key}: must be in {left}{low_text}, {high_text}{right}, got {value!r}")


def _ranges(cfg: Config) -> list[tuple]:
    """``(key, value, low, high, low_open, high_open)`` for every numeric key, section by section."""
    d, a, m, t, g, c, e, lg = cfg.data, cfg.data.augment, cfg.model, cfg.train, cfg.guard, cfg.checkpoint, \
        cfg.eval, cfg.log
    inf = None
    return [
        ("data.synthetic_pages", d.synthetic_pages, 2, inf, False, False),  # one train and one test page
        ("data.synthetic_seed", d.synthetic_seed, 0, inf, False, False),
        ("data.imgsz", d.imgsz, 0, inf, True, False),
        ("data.rare_class_boost", d.rare_class_boost, 1, inf, False, False),  # 1 = no boost
        ("data.num_workers", d.num_workers, 0, inf, False, False),
        ("data.cache_mb", d.cache_mb, 0, inf, False, False),
        ("data.augment.rotation_deg", a.rotation_deg, 0, 45, False, False),
        ("data.augment.scale_jitter", a.scale_jitter, 0, 1, False, True),  # scale 1-j must stay > 0
        ("data.augment.blur_prob", a.blur_prob, 0, 1, False, False),
        ("data.augment.noise_prob", a.noise_prob, 0, 1, False, False),
        ("data.augment.binarize_prob", a.binarize_prob, 0, 1, False, False),
        ("data.augment.jpeg_prob", a.jpeg_prob, 0, 1, False, False),
        ("data.augment.contrast_prob", a.contrast_prob, 0, 1, False, False),
        ("model.width", m.width, 0, inf, True, False),
        ("model.fpn_channels", m.fpn_channels, 0, inf, True, False),
        ("model.head_convs", m.head_convs, 0, inf, False, False),
        ("model.center_sampling_radius", m.center_sampling_radius, 0, inf, True, False),
        ("model.prior_prob", m.prior_prob, 0, 1, True, True),  # the bias is logit(prior_prob)
        ("model.score_thresh", m.score_thresh, 0, 1, False, False),
        ("model.nms_thresh", m.nms_thresh, 0, 1, False, False),
        ("model.cross_class_nms_thresh", m.cross_class_nms_thresh, 0, 1, False, False),
        ("model.topk_per_level", m.topk_per_level, 0, inf, True, False),
        ("model.max_detections", m.max_detections, 0, inf, True, False),
        ("model.tile_size", m.tile_size, 0, inf, True, False),
        ("model.tile_overlap", m.tile_overlap, 0, inf, False, False),
        ("train.epochs", t.epochs, 0, inf, True, False),
        ("train.steps_per_epoch", t.steps_per_epoch, 0, inf, True, False),
        ("train.batch_size", t.batch_size, 0, inf, True, False),
        ("train.accumulate", t.accumulate, 0, inf, True, False),
        ("train.lr0", t.lr0, 0, inf, True, False),
        ("train.momentum", t.momentum, 0, 1, False, True),
        ("train.weight_decay", t.weight_decay, 0, inf, False, False),
        ("train.warmup_epochs", t.warmup_epochs, 0, inf, False, False),
        ("train.warmup_start_factor", t.warmup_start_factor, 0, 1, True, False),
        ("train.final_lr_factor", t.final_lr_factor, 0, 1, False, False),
        ("train.step_gamma", t.step_gamma, 0, 1, True, False),
        ("train.clip_grad_norm", t.clip_grad_norm, 0, inf, True, False),
        ("train.seed", t.seed, 0, inf, False, False),
        ("train.threads", t.threads, 0, inf, False, False),
        ("guard.max_bad_steps", g.max_bad_steps, 1, inf, False, False),
        ("guard.window", g.window, 1, inf, False, False),
        ("guard.lr_factor", g.lr_factor, 0, 1, True, False),
        ("guard.max_rollbacks", g.max_rollbacks, 0, inf, False, False),
        ("guard.loss_spike_factor", g.loss_spike_factor, 1, inf, True, False),  # a spike is above the median
        ("checkpoint.every_steps", c.every_steps, 1, inf, False, False),
        ("checkpoint.keep_last", c.keep_last, 1, inf, False, False),
        ("eval.every_epochs", e.every_epochs, 0, inf, False, False),  # 0 = no validation
        ("eval.max_pages", e.max_pages, 0, inf, False, False),  # 0 = every page
        ("eval.score_thresh", e.score_thresh, 0, 1, False, False),
        ("eval.max_dets", e.max_dets, 1, inf, False, False),
        ("eval.overlay_pages", e.overlay_pages, 0, inf, False, False),
        ("log.every_steps", lg.every_steps, 1, inf, False, False),
    ]


def _validate_lists(cfg: Config) -> None:
    """Types and values of list items, which the field annotation (``list``) does not check."""
    levels = cfg.model.fpn_levels
    if not levels or any(not isinstance(lvl, int) or isinstance(lvl, bool) or lvl not in range(2, 8)
                         for lvl in levels):
        raise ConfigError(f"config key model.fpn_levels: levels must be integers within 2..7, got {levels}")
    if list(levels) != sorted(set(levels)):
        raise ConfigError(f"config key model.fpn_levels: levels must be increasing without repeats, "
                          f"got {levels}")
    milestones = cfg.train.step_milestones
    for item in milestones:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or not 0 < item < 1:
            raise ConfigError("config key train.step_milestones: expected fractions of training in (0, 1), "
                              f"got {milestones!r}")
    if list(milestones) != sorted(milestones):
        raise ConfigError(f"config key train.step_milestones: must be increasing, got {milestones!r}")
    if isinstance(cfg.data.classes, list) and not all(isinstance(n, str) for n in cfg.data.classes):
        raise ConfigError(f"config key data.classes: expected a preset name or a list of class names, "
                          f"got {cfg.data.classes!r}")


def _validate(cfg: Config) -> None:
    """Value checks that types alone cannot express, section by section, naming the key."""
    from detector.data.classes import UnknownClassError, resolve_classes

    for key, value, low, high, low_open, high_open in _ranges(cfg):
        _check(key, value, low, high, low_open, high_open)
    _validate_lists(cfg)
    try:
        resolve_classes(cfg.data.classes)
    except UnknownClassError as err:
        raise ConfigError(f"config key data.classes: {err}") from None
    if cfg.data.mosaic:
        raise ConfigError(f"config key data.mosaic: {NOT_IMPLEMENTED['data.mosaic']}")
    for key, value in (("data.train_split", cfg.data.train_split), ("data.val_split", cfg.data.val_split),
                       ("data.synthetic_dir", cfg.data.synthetic_dir), ("log.runs_dir", cfg.log.runs_dir)):
        if not value.strip():
            raise ConfigError(f"config key {key}: must not be empty")
    if not _DEVICE.match(cfg.train.device):
        raise ConfigError(f"config key train.device: expected auto, cpu, mps, cuda or cuda:N, "
                          f"got {cfg.train.device!r}")
    if cfg.model.tile_overlap >= cfg.model.tile_size:
        raise ConfigError("config key model.tile_overlap: must be smaller than model.tile_size")
    if cfg.guard.max_bad_steps > cfg.guard.window:
        raise ConfigError(f"config key guard.max_bad_steps: {cfg.guard.max_bad_steps} bad steps can never "
                          f"fit in guard.window={cfg.guard.window} steps")
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


#: The configs shipped with the repository; a bare name (``stage2.yaml``, ``stage2``) is looked up here.
CONFIGS_DIR = Path(__file__).resolve().parents[1] / "configs"


def shipped_configs() -> list[str]:
    """File names of the shipped configs (empty when the package is installed without them)."""
    return sorted(p.name for p in CONFIGS_DIR.glob("*.yaml")) if CONFIGS_DIR.is_dir() else []


def resolve_config_path(path: str | Path) -> Path:
    """``path`` itself if it is a file, else a bare name resolved in ``configs/`` (``.yaml`` optional).

    Raises:
        ConfigError: no such file; the one-line message lists the shipped configs.
    """
    path = Path(path)
    if path.is_file():
        return path
    if len(path.parts) == 1:  # a bare name: the shipped configs, as the README writes them
        for candidate in (CONFIGS_DIR / path.name, CONFIGS_DIR / f"{path.name}.yaml"):
            if candidate.is_file():
                return candidate
    shipped = ", ".join(shipped_configs()) or "none found"
    raise ConfigError(f"config file not found: {path} (shipped configs in {CONFIGS_DIR}: {shipped})")


def load_config(path: Optional[str | Path], overrides: Optional[list[str]] = None) -> Config:
    """Load a YAML config file (or the defaults when ``path`` is None) and apply overrides.

    ``path`` is a file, or the bare name of a shipped config (``stage2.yaml`` -> ``configs/stage2.yaml``).

    Raises:
        ConfigError: missing file, bad YAML, unknown key, wrong type or invalid value.
    """
    values: dict = {}
    if path is not None:
        path = resolve_config_path(path)
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
