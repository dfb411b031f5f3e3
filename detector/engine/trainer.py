"""The training loop, explicit and top to bottom: no framework.

One optimizer step = ``train.accumulate`` micro-batches of ``train.batch_size`` crops on each
of the W processes. The samples of a step are a pure function of the step number (see
``distributed.sample_indices``), so resuming, rolling back and skipping batches need no
sampler state: the loop just sets ``step``. ``data.num_workers`` processes cut the crops ahead
of the step (``data.loader.BatchStream``); the batches are the same for any worker count.

Per step: lr from the schedule -> forward/backward (autocast on CUDA when ``train.amp``) ->
unscale -> pre-clip gradient norm + ``clip_grad_norm_`` -> the NaN guard decides (update,
skip, roll back or stop; the same decision on every rank) -> log -> checkpoint / validate.

The run folder is locked for the run (``run_folder.RunLock``: two trainings of one name never
share it). Ctrl-C or SIGTERM finishes the current step, saves a checkpoint and raises
:class:`TrainingInterrupted` (a second Ctrl-C stops at once, without saving).
"""
from __future__ import annotations

import contextlib
import math
import os
import random
import signal
import statistics
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from tqdm import tqdm

from detector.config import Config, config_to_dict
from detector.data.classes import resolve_classes
from detector.engine import distributed
from detector.engine.checkpoint import (CheckpointError, CheckpointManager, capture_rng, code_version,
                                        resolve_resume, restore_rng)
from detector.engine.debug_grads import GradDebugger
from detector.engine.guard import NanGuard, TrainingDiverged
from detector.engine.optim import build_optimizer
from detector.engine.run_folder import RunLock, fresh_run_dir
from detector.engine.schedule import WarmupSchedule
from detector.engine.tb_logging import TrainLogger, peak_memory_mb, say
from detector.engine.validation import Validator

# Model keys that decide the shapes of the weights: a checkpoint resumes only if they match.
SHAPE_KEYS = ("backbone", "norm", "width", "fpn_levels", "fpn_channels", "head_convs", "head_kernel")
ESTIMATE_AFTER_STEPS = 3  # the time/memory estimate is printed after this many steps
# Pixels per optimizer step above which a config is GPU-sized (stage2: 4 x 1024^2 = 4.2 M;
# quickstart: 4 x 256^2 = 0.26 M runs at ~1 s/step on 2 cores).
CPU_PIXELS_PER_STEP = 1_000_000


class TrainingInterrupted(RuntimeError):
    """Ctrl-C / SIGTERM: ``checkpoint`` is what ``--resume auto`` continues from (or None)."""

    def __init__(self, message: str, checkpoint: Optional[Path], step: int) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint
        self.step = step


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
    bad_input: bool = False  # the batch held NaN/inf pixels (on some rank)
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


def config_differences(saved: dict, cfg: Config, class_names: list[str], saved_classes: list) -> list[str]:
    """What differs between a checkpoint's model/optimizer/classes and this run's (empty: compatible)."""
    saved = saved if isinstance(saved, dict) else {}
    current = config_to_dict(cfg)
    model, now = saved.get("model") or {}, current["model"]
    diffs = [f"model.{key} {model.get(key)!r} -> {now.get(key)!r}"
             for key in SHAPE_KEYS if key in model and model.get(key) != now.get(key)]
    optimizer, now_optimizer = (saved.get("train") or {}).get("optimizer"), current["train"].get("optimizer")
    if optimizer is not None and optimizer != now_optimizer:  # its state would not fit
        diffs.append(f"train.optimizer {optimizer!r} -> {now_optimizer!r}")
    if list(saved_classes) != list(class_names):
        diffs.append(f"data.classes ({len(saved_classes)} classes -> {len(class_names)}"
                     + (")" if len(saved_classes) != len(class_names) else ", other names)"))
    return diffs


def _human_time(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class _StopRequest:
    """Ctrl-C / SIGTERM handlers for the length of a run (main thread only; restored after).

    The first signal asks the loop to stop after the current step (a consistent state to
    save); a second Ctrl-C raises KeyboardInterrupt at once.
    """

    def __init__(self) -> None:
        self.signal_name: Optional[str] = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.signal_name is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name
        if os.environ.get("RANK", "0") == "0":  # under torchrun every rank gets the signal: one says so
            say(f"{self.signal_name}: stopping after this step and saving a checkpoint "
                "(Ctrl-C again to stop at once, without saving)")

    def __enter__(self) -> "_StopRequest":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


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
        TrainingInterrupted: Ctrl-C or SIGTERM (a checkpoint was saved when possible).
        CheckpointError: ``resume`` names nothing usable, or a checkpoint of another model.
        RunFolderError: the run folder is in use by another training, or not writable.
        DeepScoresFormatError, ImageReadError: the dataset cannot be used (one line).
    """
    ctx = distributed.setup(cfg.train.device)
    lock = None
    try:
        run_dir = Path(cfg.log.runs_dir) / (cfg.log.run_name or "run")
        if not resume:
            run_dir = fresh_run_dir(run_dir, say if ctx.is_main else lambda message: None)
        distributed.barrier(ctx)  # every rank has chosen the folder before rank 0 creates anything
        if ctx.is_main:  # also the writability check, before any data is generated
            lock = RunLock(run_dir).acquire()
        trainer = Trainer(cfg, ctx, run_dir, debug_grads or cfg.log.debug_grads, hooks or TrainHooks())
        return trainer.fit(resume)
    finally:
        if lock is not None:
            lock.release()
        distributed.cleanup(ctx)


class Trainer:
    """Holds the model, optimizer, schedule, guard and logger of one run."""

    def __init__(self, cfg: Config, ctx: distributed.DistContext, run_dir: Path, debug_grads: bool,
                 hooks: TrainHooks) -> None:
        from detector.model.detector import build_model
        from detector.model.model_io import load_initial_weights

        self.cfg, self.ctx, self.hooks = cfg, ctx, hooks
        if cfg.train.threads > 0:
            torch.set_num_threads(cfg.train.threads)
        self.amp = cfg.train.amp and ctx.device.type == "cuda"
        if cfg.train.amp and not self.amp and ctx.is_main:
            say("warning: train.amp is ignored on CPU (autocast float16 is CUDA only); training in float32",
                warning=True)
        seed_everything(cfg.train.seed)
        self.class_names = list(resolve_classes(cfg.data.classes))
        self.run_dir = Path(run_dir)

        self.core = build_model(cfg.model, len(self.class_names))  # bare model
        if cfg.train.init_weights:  # fine-tune from a trained model (a resume overrides it)
            adapted = load_initial_weights(self.core, cfg.train.init_weights, self.class_names,
                                           adapt_head=cfg.train.init_adapt_head)
            if adapted and ctx.is_main:
                shown = "; ".join(adapted[:3]) + ("; ..." if len(adapted) > 3 else "")
                say(f"init_weights {cfg.train.init_weights}: head adapted to this config's "
                    f"({len(adapted)} tensors: {shown})")
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
        if ctx.is_main:
            self._announce()
        self.dataset = self._build_dataset()
        self.batches = self._build_batch_stream()
        self.validator = Validator(cfg, self.class_names, ctx.device) if ctx.is_main else None
        if self.validator is not None and cfg.eval.every_epochs > 0:
            self.validator.prepare()  # a malformed validation split fails now, not after training
        self.best_map = -1.0
        self.last_val: Optional[dict] = None
        self.last_loss: Optional[float] = None
        self.logger: Optional[TrainLogger] = None
        self.iteration = 0  # optimizer steps executed, replays after rollbacks included
        self.stop = _StopRequest()

    def _announce(self) -> None:
        """Device, model size and step size; a warning when a GPU-sized config runs on a CPU."""
        cfg, device = self.cfg, self.ctx.device
        params = sum(p.numel() for p in self.core.parameters())
        where = f"{device.type} ({torch.get_num_threads()} threads)" if device.type == "cpu" else str(device)
        if device.type == "cuda":
            where += f" ({torch.cuda.get_device_name(device)})"
        say(f"training on {where}, {self.ctx.world_size} process(es): "
            f"{cfg.model.backbone} x{cfg.model.width:g}, "
            f"{params / 1e6:.2f} M parameters, {len(self.class_names)} classes; {self.total_steps} steps of "
            f"{self.samples_per_step} crop(s) of {cfg.data.imgsz} px; run folder {self.run_dir}")
        pixels = cfg.data.imgsz ** 2 * self.samples_per_step
        if device.type == "cpu" and pixels > CPU_PIXELS_PER_STEP:
            say(f"warning: a GPU-sized config on a CPU ({self.samples_per_step} x {cfg.data.imgsz}^2 px per "
                f"step, {cfg.model.backbone}): expect minutes per step (stage2.yaml: ~220 s/step, 8 GiB on "
                "2 cores). "
                "For a CPU use configs/quickstart.yaml, or lower data.imgsz / train.batch_size / model.width",
                warning=True)

    def _build_dataset(self):
        """The training samples, read once now: a dataset that cannot be used fails before step 0.

        Raises:
            DeepScoresFormatError: malformed annotations, or no usable page in the split.
            ImageReadError: no page image of the split can be read.
        """
        from detector.data.dataset import build_dataset, resolve_data_root
        from detector.data.deepscores import DeepScoresFormatError, split_json_path

        cfg = self.cfg
        if self.ctx.is_main:  # the synthetic default dataset is generated once, by rank 0
            resolve_data_root(cfg)
        distributed.barrier(self.ctx)
        try:
            dataset = build_dataset(cfg, cfg.data.train_split, self.total_steps * self.samples_per_step)
        except ValueError as err:  # malformed JSON, or "no pages to sample from" (every page skipped)
            if not isinstance(err, DeepScoresFormatError) and "no pages" not in str(err):
                raise
            json_path = split_json_path(resolve_data_root(cfg), cfg.data.train_split)
            if str(json_path) in str(err):
                raise
            raise DeepScoresFormatError(f"{json_path}: {err}") from None  # say which file
        dataset[0]  # decodes one page (cached); raises ImageReadError when none can be read
        return dataset

    def _build_batch_stream(self):
        """Micro-batches by number through a DataLoader (``data.num_workers`` processes, pinned on CUDA)."""
        from detector.data.loader import BatchStream, StepBatchSampler, build_loader

        indices_of = partial(distributed.sample_indices, batch_size=self.cfg.train.batch_size, ctx=self.ctx)
        sampler = StepBatchSampler(indices_of, self.total_steps * self.cfg.train.accumulate)
        self.pin_memory = self.ctx.device.type == "cuda"
        workers = self.cfg.data.num_workers
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        if workers > cores:  # more would only contend (torch warns once per loader); batches are the same
            if self.ctx.is_main:
                say(f"note: data.num_workers {workers} > {cores} CPU cores here: using {cores} "
                    "(the batches are the same for any worker count)")
            workers = cores
        loader = build_loader(self.dataset, sampler, workers, self.pin_memory, seed=self.cfg.train.seed)
        return BatchStream(loader)

    # ------------------------------------------------------------------ the loop

    def fit(self, resume: Optional[str]) -> dict:
        """Run from step 0 (or the resumed step) to the end; see :func:`train`."""
        t_start = time.perf_counter()
        if self.ctx.is_main:
            for leftover in self.checkpoints.remove_temp_files():  # safe: this run holds the folder lock
                say(f"removed {leftover.name}: a checkpoint write interrupted by a kill")
        step = self._resume(resume) if resume else 0
        self.logger = TrainLogger(self.run_dir, self.ctx.is_main, self.iteration)
        last_ckpt = None
        if step == 0 and self.iteration == 0:
            self.logger.log_config(config_to_dict(self.cfg), self._hparams())
            last_ckpt = self._save_checkpoint(0)  # the first "last good" state a rollback can return to
        bar = tqdm(total=self.total_steps, initial=step, disable=not self.ctx.is_main,
                   desc=self.run_dir.name, dynamic_ncols=True, mininterval=1.0)
        window: list[StepResult] = []
        self.timings: list[float] = []
        try:
            with self.stop:
                while step < self.total_steps:
                    step, saved = self._advance(step, window, bar)
                    last_ckpt = saved or last_ckpt
                    if distributed.any_rank(self.stop.signal_name is not None, self.ctx):
                        if saved is None:
                            last_ckpt = self._save_checkpoint(step)
                        name = self.stop.signal_name or "signal"
                        message = f"{name} at step {step}: saved {last_ckpt}"
                        raise TrainingInterrupted(message, last_ckpt, step)
        except KeyboardInterrupt:  # a second Ctrl-C: no save, the last checkpoint on disk stands
            _, path = self.checkpoints.latest_path()
            raise TrainingInterrupted(f"interrupted at step {step} without saving; last checkpoint {path}",
                                      path, step) from None
        finally:
            bar.close()
            self.logger.close()
            self.batches.close()
        return self._final_summary(step, last_ckpt, time.perf_counter() - t_start)

    def _advance(self, step: int, window: list, bar: tqdm) -> tuple[int, Optional[Path]]:
        """Run (or skip) ``step``; returns the next step and the checkpoint saved, if any."""
        if self.guard.should_skip_batch(step):
            # not printed: the rollback line listed the batches it skips
            self.logger.event(step, "skip_batch", "batch skipped: it caused a rollback", quiet=True)
            bar.update(1)
            return step + 1, None
        self.logger.iteration = self.iteration  # this step's x in TensorBoard (0-based, never repeats)
        result = self._train_step(step)
        self._log_step(step, result, window, bar)
        self.iteration += 1
        self.logger.iteration = self.iteration
        self._estimate(result)
        if result.action == "stop":
            message = self.guard.stop_message(self.schedule.lr_at(step))
            self.logger.event(step, "stop", message, quiet=True)  # printed once, as train.py's error line
            raise TrainingDiverged(message)
        if result.action == "rollback":
            step = self._rollback(step, result.reason)
            bar.n = step
            bar.refresh()
            return step, None
        step += 1
        bar.update(1)
        if step % self.cfg.train.steps_per_epoch == 0:
            self._end_of_epoch(step)
        if step % self.cfg.checkpoint.every_steps == 0 or step == self.total_steps:
            return step, self._save_checkpoint(step)
        return step, None

    def _estimate(self, result: StepResult) -> None:
        """After the first few steps: seconds per step, images/s, peak memory, time left."""
        self.timings.append(result.seconds)
        if len(self.timings) != ESTIMATE_AFTER_STEPS or not self.ctx.is_main:
            return
        per_step = statistics.median(self.timings[1:])  # the first step pays one-off allocations
        left = max(self.total_steps - self.logger.iteration, 0)
        memory = peak_memory_mb(self.ctx.device)
        kind = "peak GPU memory" if self.ctx.device.type == "cuda" else "peak RSS"
        say(f"estimate: {per_step:.2f} s/step ({self.samples_per_step / max(per_step, 1e-9):.3g} img/s), "
            f"{kind} {memory / 1024:.2f} GiB; {left} steps left ~ {_human_time(per_step * left)}"
            + (" plus validation" if self.cfg.eval.every_epochs > 0 else ""))

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
        input_ok = torch.ones((), dtype=torch.bool, device=self.ctx.device)
        for micro in range(cfg.accumulate):
            images, targets = self._batch(step * cfg.accumulate + micro)  # [B, 1, S, S], B dicts
            if self.hooks.on_batch is not None:
                images = self.hooks.on_batch(step, images, targets)
            input_ok &= torch.isfinite(images).all()  # NaN/inf pixels: a data fault, not an lr one
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
        result.bad_input = distributed.any_rank(not bool(input_ok), self.ctx)
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
                bound = self.guard.spike_bound()
                reference = (f"{self.cfg.guard.loss_spike_factor:g} x recent median"
                             if self.guard.state.recent_losses else "the first-step bound, no good loss yet")
                reason = f"loss spike ({result.loss:.4g} > {bound:.4g} = {reference})"
            else:
                reason = "non-finite loss" if loss_bad else f"non-finite gradient norm ({result.grad_norm})"
            if result.bad_input:
                reason += "; the batch holds NaN/inf pixels"
            self._on_nonfinite(step, result, reason)
            self.optimizer.zero_grad(set_to_none=True)
            if self.amp:
                self.scaler.update()
            return self.guard.on_bad_step(step, reason, bad_input=result.bad_input), reason
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
            kind = "spike" if reason.startswith("loss spike") else "nonfinite"
            values = f"loss {result.loss:.4g}, grad norm {result.grad_norm:.4g}"
            self.logger.event(step, kind, f"{reason} ({values})")
        if self.debugger and self.ctx.is_main:
            self.debugger.on_nonfinite(step, reason, result.batches, self.optimizer, self.cfg,
                                       self.class_names, result.lr, self.logger)

    def _batch(self, micro_batch: int) -> tuple[torch.Tensor, list[dict]]:
        """This rank's samples of a micro-batch, collated and moved to the device."""
        images, targets = self.batches.get(micro_batch)  # distributed.sample_indices(micro_batch)
        device, pinned = self.ctx.device, self.pin_memory
        return (images.to(device, non_blocking=pinned),
                [{k: v.to(device, non_blocking=pinned) for k, v in t.items()} for t in targets])

    # ------------------------------------------------------------------ rollback, resume, checkpoints

    def _rollback(self, step: int, reason: str) -> int:
        """Return to the last good checkpoint with a lower lr; returns the step to go on from."""
        distributed.barrier(self.ctx)
        max_step = self.guard.rollback_max_step()
        state, path = self.checkpoints.load_latest(max_step=max_step)
        if state is None:
            message = (f"no checkpoint at or before step {max_step} to roll back to. "
                       + self.guard.stop_message(self.schedule.lr_at(step)))
            self.logger.event(step, "stop", message, quiet=True)
            raise TrainingDiverged(message)
        lr_scale = self.schedule.lr_scale * self.cfg.guard.lr_factor
        earlier = [b for b in self.guard.state.skip_steps if b >= state["step"]]  # passed again too
        offending = self.guard.on_rollback(state["step"])
        also = f" (and {earlier} from earlier rollbacks)" if earlier else ""
        self._load_state(state, with_guard=False)
        self.schedule.lr_scale = lr_scale
        self.logger.event(step, "rollback",
                          f"{reason}: rollback #{self.guard.state.rollbacks} to {path.name} "
                          f"(step {state['step']}), lr x{self.cfg.guard.lr_factor} "
                          f"(scale now {lr_scale:.3g}), "
                          f"skipping batches {offending}{also}",
                          rollback=self.guard.state.rollbacks, to_step=state["step"], skip=offending)
        return int(state["step"])

    def _resume(self, resume: str) -> int:
        """Load the checkpoint ``resume`` names; returns the step to continue from."""
        state, path = resolve_resume(resume, self.run_dir)
        diffs = config_differences(state.get("config"), self.cfg, self.class_names,
                                   state.get("class_names") or [])
        if diffs:
            raise CheckpointError(f"--resume: {path} was trained with another model: {'; '.join(diffs)} "
                                  "(resume with the config it was trained with, or start a new run)")
        try:
            self._load_state(state, with_guard=True)
        except (RuntimeError, ValueError, KeyError) as err:  # shapes the keys above did not catch
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"--resume: {path} does not fit this model/optimizer "
                                  f"({first[:160]})") from None
        self.iteration = int(state.get("iteration", state["step"]))
        if self.ctx.is_main:
            say(f"resumed from {path} at step {state['step']}")
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
        self.last_val = state.get("metrics") or self.last_val  # the done line names it after a resume
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
            "iteration": self.iteration,
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
        record = {"step": step, "iteration": self.iteration, "epoch": step // self.cfg.train.steps_per_epoch,
                  "loss": result.loss, **result.loss_terms, "lr": result.lr, "grad_norm": result.grad_norm,
                  "clipped": bool(clip is not None and result.grad_norm > clip), "status": result.action}
        self.logger.log_step(record)
        if math.isfinite(result.loss):
            self.last_loss = result.loss
        window.append(result)
        images_per_s = self.samples_per_step / max(result.seconds, 1e-9)
        bar.set_postfix(loss=f"{result.loss:.4g}", lr=f"{result.lr:.3g}", img_s=f"{images_per_s:.3g}",
                        refresh=False)
        if (self.iteration + 1) % self.cfg.log.every_steps == 0:
            seconds = sum(r.seconds for r in window)
            clipped = sum(1 for r in window if clip is not None and r.grad_norm > clip)
            self.logger.log_scalars(self.iteration, {
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

    def _final_summary(self, step: int, last_ckpt: Optional[Path], wall_s: float) -> dict:
        """Write the validation report (rank 0) and return what a caller needs."""
        report_paths = self.validator.write_report(self.run_dir) if self.validator else None
        best = self.checkpoints.dir / "best.pt"
        if last_ckpt is None:  # resuming a finished run: nothing new was saved
            _, last_ckpt = self.checkpoints.latest_path()
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
