"""``--debug-grads``: watch every layer, name where the first non-finite value appears, dump it.

Every step: activation statistics of every leaf module's output (forward hooks), the gradient
reaching each output (tensor hooks, fired in backward order), and per-parameter gradient and
weight norms. Written to TensorBoard (``debug/...``) and ``debug_grads.jsonl``.

On the first non-finite step it prints which module and tensor went bad first (the batch, a
forward output, a gradient, or a weight after the update) and dumps batch, weights, optimizer
state and RNG to ``runs/NAME/nan_dumps/step_XXXXXXXX.pt`` for
``python -m detector.engine.replay DUMP``.
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Optional

import torch

from detector.config import Config, config_to_dict
from detector.atomic_files import atomic_torch_save
from detector.engine.checkpoint import capture_rng

MAX_DUMPS = 3  # the first bad step is the informative one; later ones are usually echoes


def tensor_stats(tensor: torch.Tensor) -> dict:
    """mean / std / max |x| / count of non-finite values of a tensor (float32)."""
    t = tensor.detach().float()
    finite = torch.isfinite(t)
    nonfinite = int(t.numel() - finite.sum())
    safe = torch.where(finite, t, torch.zeros_like(t))
    return {"mean": float(safe.mean()), "std": float(safe.std()) if t.numel() > 1 else 0.0,
            "absmax": float(safe.abs().max()) if t.numel() else 0.0, "nonfinite": nonfinite}


def _first_tensor(output) -> Optional[torch.Tensor]:
    """The first tensor of a module output (tensor, tuple/list or dict)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (list, tuple)):
        return next((o for o in output if isinstance(o, torch.Tensor)), None)
    if isinstance(output, dict):
        return next((o for o in output.values() if isinstance(o, torch.Tensor)), None)
    return None


class GradDebugger:
    """Hooks on a bare model; one instance per run (rank 0 logs and dumps)."""

    def __init__(self, model: torch.nn.Module, run_dir: Path) -> None:
        self.model = model
        self.dump_dir = Path(run_dir) / "nan_dumps"
        self.jsonl_path = Path(run_dir) / "debug_grads.jsonl"
        self.dumps = 0
        self.step = -1
        self.rng_before: Optional[dict] = None
        self.weights_before: dict = {}
        self.optimizer_before: Optional[dict] = None
        self.activations: dict[str, dict] = {}
        self.first_forward: Optional[str] = None  # "module X output" where forward first went bad
        self.first_backward: Optional[str] = None  # module whose output gradient first went bad
        self._attach()

    def _attach(self) -> None:
        self.model.register_forward_pre_hook(self._check_input)
        for name, module in self.model.named_modules():
            if name and not any(module.children()):  # leaf modules: where the arithmetic is
                module.register_forward_hook(self._forward_hook(name))

    def _check_input(self, module, args) -> None:
        images = args[0] if args else None
        if self.first_forward is None and isinstance(images, torch.Tensor) \
                and not torch.isfinite(images).all():
            bad = int((~torch.isfinite(images)).sum())
            self.first_forward = f"the input batch: images hold {bad} non-finite pixel(s)"

    def _forward_hook(self, name: str):
        def hook(module, inputs, output) -> None:
            tensor = _first_tensor(output)
            if tensor is None or not tensor.is_floating_point():
                return
            stats = tensor_stats(tensor)
            self.activations[name] = stats
            if stats["nonfinite"] and self.first_forward is None:
                inputs_ok = all(torch.isfinite(i).all() for i in inputs if isinstance(i, torch.Tensor))
                origin = "from finite inputs" if inputs_ok else "its input was already non-finite"
                self.first_forward = (f"module `{name}` ({type(module).__name__}) output: "
                                      f"{stats['nonfinite']} non-finite value(s), {origin}")
            if tensor.requires_grad:
                tensor.register_hook(self._backward_hook(name))
        return hook

    def _backward_hook(self, name: str):
        def hook(grad: torch.Tensor) -> None:
            if self.first_backward is None and not torch.isfinite(grad).all():
                self.first_backward = f"gradient w.r.t. the output of module `{name}`"
        return hook

    def begin_step(self, step: int, optimizer: Optional[torch.optim.Optimizer] = None) -> None:
        """Reset the per-step findings; remember RNG, weights and optimizer state (for a dump).

        Copying the weights every step is what makes a dump replayable even when the update
        itself broke them; it doubles the model's memory, which is fine for a debugging run.
        """
        self.step = step
        self.rng_before = capture_rng()
        self.weights_before = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
        self.optimizer_before = copy.deepcopy(optimizer.state_dict()) if optimizer is not None else None
        self.activations = {}
        self.first_forward = None
        self.first_backward = None

    def parameter_norms(self) -> tuple[dict, dict]:
        """Per-parameter gradient norms and weight norms (float)."""
        grads, weights = {}, {}
        for name, param in self.model.named_parameters():
            weights[name] = float(param.detach().float().norm())
            if param.grad is not None:
                grads[name] = float(param.grad.detach().float().norm())
        return grads, weights

    def after_backward(self, step: int, logger) -> None:
        """Log the per-layer statistics of this step (TensorBoard + debug_grads.jsonl)."""
        if logger is None or not logger.enabled:
            return
        grads, weights = self.parameter_norms()
        x = logger.iteration  # TensorBoard's x axis (see tb_logging)
        for name, value in grads.items():
            logger.writer.add_scalar(f"debug/grad_norm/{name}", value, x)
        for name, value in weights.items():
            logger.writer.add_scalar(f"debug/weight_norm/{name}", value, x)
        for name, stats in self.activations.items():
            logger.writer.add_scalar(f"debug/act_absmax/{name}", stats["absmax"], x)
            logger.writer.add_scalar(f"debug/act_std/{name}", stats["std"], x)
        with open(self.jsonl_path, "a") as handle:
            handle.write(json.dumps({"step": step, "iteration": x, "grad_norm": grads, "weight_norm": weights,
                                     "activations": self.activations}) + "\n")

    def diagnosis(self, reason: str) -> str:
        """Where the first non-finite value appeared, in words."""
        grads, weights = self.parameter_norms()
        lines = [f"bad step {self.step}: {reason}"]
        lines.append(f"  forward:  {self.first_forward or 'all activations finite'}")
        lines.append(f"  backward: {self.first_backward or 'all output gradients finite'}")
        if self.first_forward is None and self.first_backward is None and reason.startswith("loss spike"):
            lines.append("  (a finite spike: nothing non-finite to trace; "
                         "the gradients below show where it grows)")
        bad_grads = [n for n, v in grads.items() if not math.isfinite(v)]
        if bad_grads:
            examples = ", ".join(bad_grads[:3])
            lines.append(f"  {len(bad_grads)} parameter gradient(s) non-finite, e.g. {examples}")
        else:
            top = sorted(grads.items(), key=lambda kv: -kv[1])[:3]
            lines.append("  largest gradient norms (top 3; every layer in debug_grads.jsonl): "
                         + ", ".join(f"{n}={v:.3g}" for n, v in top))
        loudest = sorted(self.activations.items(), key=lambda kv: -kv[1]["absmax"])[:3]
        lines.append("  largest activations (top 3): "
                     + ", ".join(f"{n}={s['absmax']:.3g}" for n, s in loudest))
        bad_weights = [n for n, v in weights.items() if not math.isfinite(v)]
        if bad_weights:
            lines.append(f"  {len(bad_weights)} weight tensor(s) non-finite, first: {bad_weights[0]}")
        return "\n".join(lines)

    def on_nonfinite(self, step: int, reason: str, batches: list, optimizer: torch.optim.Optimizer,
                     cfg: Config, class_names: list[str], lr: float, logger) -> Optional[Path]:
        """Print the diagnosis and dump the step (the first ``MAX_DUMPS`` bad steps)."""
        text = self.diagnosis(reason)
        if self.dumps >= MAX_DUMPS:
            logger.event(step, "debug_grads", text)
            return None
        self.dumps += 1
        path = self.dump_dir / f"step_{step:08d}.pt"
        atomic_torch_save({
            "step": step, "reason": reason, "diagnosis": text, "lr": lr,
            "batches": batches,  # [(images [B, 1, S, S], targets)] per micro-batch
            "model": self.weights_before,  # weights before this step's update
            "optimizer": self.optimizer_before or optimizer.state_dict(),
            "rng": self.rng_before,
            "config": config_to_dict(cfg),
            "class_names": class_names,
        }, path)
        logger.event(step, "debug_grads", f"{text}\n  dumped to {path}; replay with: "
                                          f"python -m detector.engine.replay {path}", dump=str(path))
        return path
