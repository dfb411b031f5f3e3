"""Save and load a detector with its config inside, so a checkpoint alone rebuilds its model.

A checkpoint is a dict: ``model`` (state dict), ``config`` (``config_to_dict``),
``class_names``, ``code_version``; training checkpoints add optimizer, scheduler, ... and are
read by ``load_model`` too. Files are loaded with ``weights_only=True`` (no arbitrary code
runs from a downloaded checkpoint), so every value must be tensors and plain Python types.
"""
from __future__ import annotations

import copy
from pathlib import Path

import torch

import detector
from detector.atomic_files import atomic_torch_save
from detector.config import Config, ConfigError, config_from_dict, config_to_dict
from detector.model.detector import SymbolDetector, build_model

REQUIRED_KEYS = ("model", "config", "class_names")

#: The shipped default model (configs/default_model.yaml, see weights/README.md), found from the
#: repository root so that eval.py and reconstruct.py work from any working directory.
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "default.pt"


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable or incomplete (one-line message with the path)."""


def save_model(
    path: str | Path, model: SymbolDetector, cfg: Config, class_names: list[str], half: bool = False
) -> None:
    """Write an inference checkpoint atomically; ``half=True`` stores float tensors as fp16."""
    state = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    if half:
        state = {n: t.half() if t.is_floating_point() else t for n, t in state.items()}
    checkpoint = {
        "model": state,
        "config": config_to_dict(cfg),
        "class_names": list(class_names),
        "code_version": detector.__version__,
    }
    atomic_torch_save(checkpoint, path)


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint dict on CPU; raise ``CheckpointError`` (one line) if it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, wrong format, non-plain objects inside
        reason = str(err).strip().splitlines()[0][:120] if str(err).strip() else type(err).__name__
        raise CheckpointError(f"checkpoint {path} is unreadable (corrupt or truncated?): {reason}") from None
    if not isinstance(checkpoint, dict) or any(key not in checkpoint for key in REQUIRED_KEYS):
        raise CheckpointError(f"checkpoint {path} lacks one of the keys {', '.join(REQUIRED_KEYS)}")
    return checkpoint


def load_initial_weights(model: SymbolDetector, path: str | Path, class_names: list[str],
                         adapt_head: bool = False) -> list[str]:
    """Copy the weights of checkpoint ``path`` into ``model`` to fine-tune from them.

    ``adapt_head`` (``train.init_adapt_head``): the model's head may be cheaper than the
    checkpoint's (``adapt_head_state``); the rest must fit exactly. Returns what was adapted.

    Raises:
        CheckpointError: unreadable file, another class list or another architecture.
    """
    checkpoint = read_checkpoint(path)
    if list(checkpoint["class_names"]) != list(class_names):
        raise CheckpointError(f"checkpoint {path}: its classes differ from data.classes; cannot start there")
    state = {name: tensor.float() if tensor.is_floating_point() else tensor
             for name, tensor in checkpoint["model"].items()}
    adapted: list[str] = []
    if adapt_head:
        state, adapted = adapt_head_state(state, model.state_dict())
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0][:160]
        raise CheckpointError(f"checkpoint {path}: weights do not fit model config: {first}") from None
    return adapted


def adapt_head_state(state: dict, target: dict) -> tuple[dict, list[str]]:
    """A trained head's weights reshaped to start a cheaper head: ``(state, adapted names)``.

    Why: a model whose head has fewer tower convs or 1x1 output convs (``model.head_convs``,
    ``model.head_kernel``: faster page inference) learns far faster from the trained backbone
    and head than from scratch. Tower convs the target lacks are dropped (it keeps the first
    ones); a 3x3 output conv becomes the 1x1 conv that gives the same output on a feature map
    that is constant over the 3x3 window (its weights summed over the taps).
    """
    state = dict(state)
    adapted = []
    for name in [n for n in state if n.startswith("head.") and n not in target]:
        del state[name]
        adapted.append(f"{name} dropped")
    for name, tensor in list(state.items()):
        wanted = target.get(name)
        if not name.startswith("head.") or wanted is None or wanted.shape == tensor.shape:
            continue
        if tensor.ndim == 4 and wanted.shape[:2] == tensor.shape[:2] and wanted.shape[2:] == (1, 1):
            state[name] = tensor.sum(dim=(2, 3), keepdim=True)
            adapted.append(f"{name} {tuple(tensor.shape[2:])} -> 1x1")
    return state, adapted


def config_from_checkpoint(values: dict, path: Path) -> Config:
    """Rebuild the stored Config; a data.root or train.init_weights that does not exist here is
    dropped (the model is unaffected: its weights are in the checkpoint)."""
    values = copy.deepcopy(values)
    root = (values.get("data") or {}).get("root")
    if root is not None and not Path(root).exists():
        values["data"]["root"] = None
    init = (values.get("train") or {}).get("init_weights")
    if init is not None and not Path(init).is_file():
        values["train"]["init_weights"] = None
    try:
        return config_from_dict(values)
    except ConfigError as err:
        raise CheckpointError(f"checkpoint {path} holds an invalid config: {err}") from None


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[SymbolDetector, Config, list[str]]:
    """Rebuild the model from the config inside the checkpoint and load its weights (eval mode).

    Reads inference checkpoints (``save_model``) and training checkpoints alike.
    """
    path = Path(path)
    checkpoint = read_checkpoint(path)
    cfg = config_from_checkpoint(checkpoint["config"], path)
    class_names = list(checkpoint["class_names"])
    model = build_model(cfg.model, len(class_names))
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0][:160]
        raise CheckpointError(f"checkpoint {path}: weights do not fit its own config: {first}") from None
    return model.to(device).eval(), cfg, class_names
