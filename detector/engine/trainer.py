"""The training loop, explicit and top to bottom: no framework.

One optimizer step = ``train.accumulate`` micro-batches of ``train.batch_size`` crops on each
of the W processes. The samples of a step are a pure function of the step number (see
``distributed.sample_indices``), so resuming, rolling back and skipping batches need no
sampler state: the loop just sets ``step``.

Per step: lr from the schedule -> forward/backward (autocast on CUDA when ``train.amp``) ->
unscale -> pre-clip gradient norm + ``clip_grad_norm_`` -> the NaN guard decides (update,
skip, roll back or stop; the same decision on every rank) -> log -> checkpoint / validate.
"""
from __future__ import annotations

import contextlib
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from tqdm import tqdm

from detector.config import Config, config_to_dict
from detector.data.classes import resolve_classes
from detector.engine import distributed
from detector.engine.checkpoint import (CheckpointManager, capture_rng, code_version,
                                        resolve_resume, restore_rng)
from detector.engine.debug_grads import GradDebugger
from detector.engine.guard import NanGuard, TrainingDiverged
from detector.engine.optim import build_optimizer
from detector.engine.schedule import WarmupSchedule
from detector.engine.tb_logging import TrainLogger, peak_memory_mb
from detector.engine.validation import Validator


@dataclass
class TrainHooks:
    """Optional callables to inject faults or experiments without editing the loop.

    ``on_model(model)`` runs once on the bare model (e.g. to register a forward hook);
    ``on_batch(step, images, targets) -> images`` may alter a batch (``[B, 1, S, S]``);
    ``before_update(step, optimizer)`` runs right before ``optimizer.step`` (e.g. an lr spike).
    """

    on_model: Optional[Callable] = None
    on_batch: Optional[Callable] = None
    before_update: Optional[Callable] = None


@dataclass
class StepResult:
    """What one optimizer step measured (loss terms averaged over ranks and micro-batches)."""

    loss_terms: dict
    loss: float
    grad_norm: float
    lr: float
    seconds: float
    action: str = "ok"
    reason: str = ""
    batches: list = field(default_factory=list)  # kept only under --debug-grads (for dumps)


def seed_everything(seed: int) -> None:
    """Python, numpy and torch RNGs from one seed (a CPU run is then repeatable)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def weights_finite(model: torch.nn.Module) -> bool:
    """True when no parameter holds inf/NaN (one fused norm per tensor: cheap)."""
    norms = torch._foreach_norm([p.detach() for p in model.parameters()])
    return bool(torch.isfinite(torch.stack(norms)).all())


def fresh_run_dir(run_dir: Path) -> Path:
    """``run_dir``, or ``run_dir-2``, ``-3``... when a previous run already wrote there.

    A new run never mixes its checkpoints and logs with an old run's (resume instead with
    ``--resume auto``, which reuses the folder).
    """
    if not run_dir.exists() or not any(run_dir.iterdir()):
        return run_dir
    n = 2
    while (run_dir.parent / f"{run_dir.name}-{n}").exists():
        n += 1
    fresh = run_dir.parent / f"{run_dir.name}-{n}"
    print(f"{run_dir} holds an earlier run: writing to {fresh} (continue the old one with --resume auto)", flush=True)
    return fresh


def train(cfg: Config, resume: Optional[str] = None, debug_grads: bool = False, *,
          hooks: Optional[TrainHooks] = None) -> dict:
    """Train a detector as ``cfg`` says; the entry point of ``train.py`` and the scripts.

    Args:
        cfg: the validated config. resume: ``"auto"``, a checkpoint path or None.
        debug_grads: per-layer statistics every step and NaN dumps (or ``log.debug_grads``).
        hooks: fault injection for tests and experiments.
    Returns:
        ``run_dir``, ``last_checkpoint``, ``best_checkpoint``, ``steps``, ``final_loss``,
        ``val`` (summary of the last validation or None), ``skipped_steps``, ``rollbacks``,
        ``wall_s``, ``peak_memory_mb``.
    Raises:
        TrainingDiverged: the NaN guard gave up (the message says what to try).
        CheckpointError: ``resume`` names nothing usable.
    """
    ctx = distributed.setup(cfg.train.device)
    try:
        trainer = Trainer(cfg, ctx, debug_grads or cfg.log.debug_grads, hooks or TrainHooks(), resuming=bool(resume))
        return trainer.fit(resume)
    finally:
        distributed.cleanup(ctx)


class Trainer:
    """Holds the model, optimizer, schedule, guard and logger of one run."""

    def __init__(self, cfg: Config, ctx: distributed.DistContext, debug_grads: bool, hooks: TrainHooks,
                 resuming: bool = False) -> None:
        from detector.data.dataset import build_dataset, resolve_data_root
        from detector.model.detector import build_model
        from detector.model.model_io import load_initial_weights

        self.cfg, self.ctx, self.hooks = cfg, ctx, hooks
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        self.amp = cfg.train.amp and ctx.device.type == "cuda"
        if cfg.train.amp and not self.amp and ctx.is_main:
            print("warning: train.amp is ignored on CPU (autocast float16 is CUDA only); training in float32", flush=True)
        seed_everything(cfg.train.seed)
        self.class_names = list(resolve_classes(cfg.data.classes))
        self.run_dir = Path(cfg.log.runs_dir) / (cfg.log.run_name or "run")
        if not resuming:
            self.run_dir = fresh_run_dir(self.run_dir)  # decided before any rank creates folders

        self.core = build_model(cfg.model, len(self.class_names))  # bare model
        if cfg.train.init_weights:  # fine-tune from a trained model (a resume overrides it)
            load_initial_weights(self.core, cfg.train.init_weights, self.class_names)
        self.core = self.core.to(ctx.device)
        if hooks.on_model is not None:
            hooks.on_model(self.core)
        self.model = distributed.wrap_model(self.core, ctx)
        self.optimizer = build_optimizer(self.core, cfg.train)
        self.schedule = WarmupSchedule(self.optimizer, cfg.train)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.guard = NanGuard(cfg.guard)
        self.checkpoints = CheckpointManager(self.run_dir, cfg.checkpoint.keep_last, cfg.checkpoint.keep_best)
        self.debugger = GradDebugger(self.core, self.run_dir) if debug_grads else None

        self.total_steps = cfg.train.epochs * cfg.train.steps_per_epoch
        self.samples_per_step = cfg.train.batch_size * cfg.train.accumulate * ctx.world_size
        if ctx.is_main:  # the synthetic default dataset is generated once, by rank 0
            resolve_data_root(cfg)
        distributed.barrier(ctx)
        self.dataset = build_dataset(cfg, cfg.data.train_split, self.total_steps * self.samples_per_step)
        self.validator = Validator(cfg, self.class_names, ctx.device) if ctx.is_main else None
        self.best_map = -1.0
        self.last_val: Optional[dict] = None
        self.last_loss: Optional[float] = None
        self.logger: Optional[TrainLogger] = None

    # ------------------------------------------------------------------ the loop

    def fit(self, resume: Optional[str]) -> dict:
        """Run from step 0 (or the resumed step) to the end; see :func:`train`."""
        t_start = time.perf_counter()
        step = self._resume(resume) if resume else 0
        self.logger = TrainLogger(self.run_dir, self.ctx.is_main, step)
        if step == 0:
            self.logger.log_config(config_to_dict(self.cfg), self._hparams())
            self._save_checkpoint(0)  # the first "last good" state a rollback can return to
        bar = tqdm(total=self.total_steps, initial=step, disable=not self.ctx.is_main,
                   desc=self.run_dir.name, dynamic_ncols=True, mininterval=1.0)
        window: list[StepResult] = []
        last_ckpt = None
        try:
            while step < self.total_steps:
                if self.guard.should_skip_batch(step):
                    self.logger.event(step, "skip_batch", "batch skipped: it caused the last rollback")
                    step += 1
                    bar.update(1)
                    continue
                result = self._train_step(step)
                self._log_step(step, result, window, bar)
                if result.action == "stop":
                    message = self.guard.stop_message(self.schedule.lr_at(step))
                    self.logger.event(step, "stop", message)
                    raise TrainingDiverged(message)
                if result.action == "rollback":
                    step = self._rollback(step, result.reason)
                    bar.n = step
                    bar.refresh()
                    continue
                step += 1
                bar.update(1)
                if step % self.cfg.train.steps_per_epoch == 0:
                    self._end_of_epoch(step)
                if step % self.cfg.checkpoint.every_steps == 0 or step == self.total_steps:
                    last_ckpt = self._save_checkpoint(step)
        finally:
            bar.close()
            self.logger.close()
        return self._final_summary(step, window, last_ckpt, time.perf_counter() - t_start)

    def _train_step(self, step: int) -> StepResult:
        """Forward/backward over the step's micro-batches, then the guarded update."""
        cfg = self.cfg.train
        lr = self.schedule.apply(step)
        if self.debugger:
            self.debugger.begin_step(step, self.optimizer)
        self.optimizer.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        terms: dict[str, torch.Tensor] = {}
        batches = []
        for micro in range(cfg.accumulate):
            images, targets = self._batch(step * cfg.accumulate + micro)  # [B, 1, S, S], B dicts
            if self.hooks.on_batch is not None:
                images = self.hooks.on_batch(step, images, targets)
            if self.debugger:
                batches.append((images.detach().cpu(), [{k: v.cpu() for k, v in t.items()} for t in targets]))
            last = micro == cfg.accumulate - 1
            sync = contextlib.nullcontext() if last or not self.ctx.distributed else self.model.no_sync()
            with sync:
                with torch.autocast(self.ctx.device.type, dtype=torch.float16, enabled=self.amp):
                    loss_terms = self.model(images, targets)
                loss = sum(v.float() for v in loss_terms.values())  # losses summed in float32
                self.scaler.scale(loss / cfg.accumulate).backward()
            for name, value in loss_terms.items():
                terms[name] = terms.get(name, 0.0) + value.detach().float() / cfg.accumulate
        self.scaler.unscale_(self.optimizer)
        max_norm = cfg.clip_grad_norm if cfg.clip_grad_norm is not None else float("inf")
        grad_norm = float(torch.nn.utils.clip_grad_norm_(self.core.parameters(), max_norm))

        names = sorted(terms)
        values = distributed.mean_over_ranks(torch.stack([terms[n] for n in names]), self.ctx).cpu()
        loss_terms = {n: float(v) for n, v in zip(names, values)}
        loss_value = float(sum(loss_terms.values()))
        result = StepResult(loss_terms, loss_value, grad_norm, lr, 0.0, batches=batches)
        result.action, result.reason = self._guarded_update(step, result)
        result.seconds = time.perf_counter() - t0
        return result

    def _guarded_update(self, step: int, result: StepResult) -> tuple[str, str]:
        """Apply the update only if loss and gradients are finite on every rank."""
        loss_bad = distributed.any_rank(not math.isfinite(result.loss), self.ctx)
        grad_bad = distributed.any_rank(not math.isfinite(result.grad_norm), self.ctx)
        if self.debugger:
            self.debugger.after_backward(step, self.logger)
        if grad_bad and not loss_bad and self.amp:
            # float16 overflow: the GradScaler skips this update and lowers its scale
            self.scaler.step(self.optimizer)
            self.scaler.update()
            return "amp_overflow", "float16 gradient overflow (handled by GradScaler)"
        spike = not (loss_bad or grad_bad) and self.guard.loss_spike(result.loss)  # same on every rank
        if loss_bad or grad_bad or spike:
            if spike:
                reason = f"loss spike ({result.loss:.4g} > {self.cfg.guard.loss_spike_factor:g} x recent median)"
            else:
                reason = "non-finite loss" if loss_bad else f"non-finite gradient norm ({result.grad_norm})"
            self._on_nonfinite(step, result, reason)
            self.optimizer.zero_grad(set_to_none=True)
            if self.amp:
                self.scaler.update()
            return self.guard.on_bad_step(step, reason), reason
        if self.hooks.before_update is not None:
            self.hooks.before_update(step, self.optimizer)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if not weights_finite(self.core):
            reason = "weights became non-finite after the update"
            self._on_nonfinite(step, result, reason)
            return self.guard.on_bad_weights(step, reason), reason
        self.guard.on_good_step(result.loss)
        return "ok", ""

    def _on_nonfinite(self, step: int, result: StepResult, reason: str) -> None:
        """Print the event; under --debug-grads name the culprit and dump the step."""
        if self.ctx.is_main:
            self.logger.event(step, "nonfinite", f"{reason} (loss {result.loss:.4g}, grad norm {result.grad_norm:.4g})")
        if self.debugger and self.ctx.is_main:
            self.debugger.on_nonfinite(step, reason, result.batches, self.optimizer, self.cfg,
                                       self.class_names, result.lr, self.logger)

    def _batch(self, micro_batch: int) -> tuple[torch.Tensor, list[dict]]:
        """This rank's samples of a micro-batch, collated and moved to the device."""
        from detector.data.dataset import collate_batch

        indices = distributed.sample_indices(micro_batch, self.cfg.train.batch_size, self.ctx)
        images, targets = collate_batch([self.dataset[i] for i in indices])
        device = self.ctx.device
        return images.to(device), [{k: v.to(device) for k, v in t.items()} for t in targets]

    # ------------------------------------------------------------------ rollback, resume, checkpoints

    def _rollback(self, step: int, reason: str) -> int:
        """Return to the last good checkpoint with a lower lr; returns the step to go on from."""
        distributed.barrier(self.ctx)
        max_step = self.guard.rollback_max_step()
        state, path = self.checkpoints.load_latest(max_step=max_step)
        if state is None:
            message = f"no checkpoint at or before step {max_step} to roll back to. " + self.guard.stop_message(self.schedule.lr_at(step))
            self.logger.event(step, "stop", message)
            raise TrainingDiverged(message)
        lr_scale = self.schedule.lr_scale * self.cfg.guard.lr_factor
        offending = self.guard.on_rollback(state["step"])
        self._load_state(state, with_guard=False)
        self.schedule.lr_scale = lr_scale
        self.logger.event(step, "rollback",
                          f"{reason}: rollback #{self.guard.state.rollbacks} to {path.name} (step {state['step']}), "
                          f"lr x{self.cfg.guard.lr_factor} (scale now {lr_scale:.3g}), skipping batches {offending}",
                          rollback=self.guard.state.rollbacks, to_step=state["step"], skip=offending)
        return int(state["step"])

    def _resume(self, resume: str) -> int:
        """Load the checkpoint ``resume`` names; returns the step to continue from."""
        state, path = resolve_resume(resume, self.run_dir)
        self._load_state(state, with_guard=True)
        if self.ctx.is_main:
            print(f"resumed from {path} at step {state['step']}", flush=True)
        return int(state["step"])

    def _load_state(self, state: dict, with_guard: bool) -> None:
        """Model, optimizer, schedule, scaler, RNG (and the guard, on resume) from a checkpoint."""
        self.core.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.schedule.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        restore_rng(state["rng"])
        self.best_map = state.get("best_map", -1.0)
        if with_guard and state.get("guard"):
            self.guard.load_state_dict(state["guard"])

    def _state(self, step: int) -> dict:
        """Everything a resumed run needs to continue exactly (ARCHITECTURE.md keys)."""
        return {
            "model": self.core.state_dict(),
            "config": config_to_dict(self.cfg),
            "class_names": self.class_names,
            "code_version": code_version(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": capture_rng(),
            "data_position": {"next_sample_index": step * self.samples_per_step,
                              "samples_per_step": self.samples_per_step},
            "step": step,
            "epoch": step // self.cfg.train.steps_per_epoch,
            "metrics": self.last_val or {},
            "guard": self.guard.state_dict(),
            "best_map": self.best_map,
        }

    def _save_checkpoint(self, step: int) -> Optional[Path]:
        """Rank 0 writes; every rank waits so a rollback never reads a half-written file."""
        path = None
        if self.ctx.is_main:
            path = self.checkpoints.save(self._state(step), step)
            self.logger.event(step, "checkpoint", f"saved {path}")
        distributed.barrier(self.ctx)
        return path

    # ------------------------------------------------------------------ logging, validation, end

    def _log_step(self, step: int, result: StepResult, window: list, bar: tqdm) -> None:
        """Per-step JSONL/TensorBoard record; interval scalars and the progress bar."""
        clip = self.cfg.train.clip_grad_norm
        record = {"step": step, "epoch": step // self.cfg.train.steps_per_epoch, "loss": result.loss,
                  **result.loss_terms, "lr": result.lr, "grad_norm": result.grad_norm,
                  "clipped": bool(clip is not None and result.grad_norm > clip), "status": result.action}
        self.logger.log_step(step, record)
        if math.isfinite(result.loss):
            self.last_loss = result.loss
        window.append(result)
        images_per_s = self.samples_per_step / max(result.seconds, 1e-9)
        bar.set_postfix(loss=f"{result.loss:.3f}", lr=f"{result.lr:.2e}", img_s=f"{images_per_s:.1f}", refresh=False)
        if (step + 1) % self.cfg.log.every_steps == 0:
            seconds = sum(r.seconds for r in window)
            clipped = sum(1 for r in window if clip is not None and r.grad_norm > clip)
            self.logger.log_scalars(step, {
                "train/clip_rate": clipped / len(window),
                "speed/images_per_s": self.samples_per_step * len(window) / max(seconds, 1e-9),
                "memory/peak_mb": peak_memory_mb(self.ctx.device),
                "guard/skipped_total": self.guard.state.skipped_total,
                "guard/rollbacks": self.guard.state.rollbacks,
            })
            window.clear()

    def _end_of_epoch(self, step: int) -> None:
        """Validation every ``eval.every_epochs`` epochs (and after the last); keeps the best."""
        epoch = step // self.cfg.train.steps_per_epoch
        every = self.cfg.eval.every_epochs
        if every <= 0 or (epoch % every != 0 and step != self.total_steps):
            return
        if self.ctx.is_main:
            self.core.eval()
            val = self.validator.run(self.core, step, self.logger)
            self.core.train()
            if val is not None:
                self.last_val = val
                if val["map"] is not None and val["map"] > self.best_map and self.cfg.checkpoint.keep_best:
                    self.best_map = val["map"]
                    path = self.checkpoints.save_best(self._state(step))
                    self.logger.event(step, "best", f"validation mAP {val['map']:.4f}: saved {path}")
        distributed.barrier(self.ctx)

    def _final_summary(self, step: int, window: list, last_ckpt: Optional[Path], wall_s: float) -> dict:
        """Write the validation report (rank 0) and return what a caller needs."""
        report_paths = self.validator.write_report(self.run_dir) if self.validator else None
        best = self.checkpoints.dir / "best.pt"
        return {
            "run_dir": str(self.run_dir),
            "last_checkpoint": str(last_ckpt) if last_ckpt else None,
            "best_checkpoint": str(best) if best.is_file() else None,
            "report": [str(p) for p in report_paths] if report_paths else None,
            "steps": step,
            "final_loss": self.last_loss,
            "val": self.last_val,
            "skipped_steps": self.guard.state.skipped_total,
            "rollbacks": self.guard.state.rollbacks,
            "wall_s": wall_s,
            "peak_memory_mb": peak_memory_mb(self.ctx.device),
        }

    def _hparams(self) -> dict:
        t, m, d = self.cfg.train, self.cfg.model, self.cfg.data
        return {"lr0": t.lr0, "batch_size": t.batch_size, "accumulate": t.accumulate, "epochs": t.epochs,
                "clip_grad_norm": t.clip_grad_norm, "amp": t.amp, "schedule": t.schedule,
                "backbone": m.backbone, "width": m.width, "imgsz": d.imgsz, "classes": str(d.classes),
                "world_size": self.ctx.world_size}
