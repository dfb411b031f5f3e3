"""Multi-process data parallel training under ``torchrun`` (DDP; gloo on CPU, NCCL on GPU).

Sampling is a function of the step counter, not of a stateful sampler: micro-batch ``m``
covers the global sample indices ``[m * B * W, (m + 1) * B * W)`` and rank ``r`` takes the
``r``-th slice of ``B``. This is DistributedSampler's split without its state, so a resumed
run and a run with a different number of processes see the same samples at the same step,
and W processes with batch B see exactly what one process with batch W * B sees.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel


@dataclass
class DistContext:
    """Where this process sits: rank, world size and its device."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Rank 0 alone logs, validates and saves."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def pick_device(spec: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> this rank's GPU when CUDA is present, else CPU; else the named device."""
    if spec == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cuda" and torch.cuda.is_available():
        return torch.device(f"cuda:{local_rank}")
    return torch.device(spec)


def setup(device_spec: str) -> DistContext:
    """Join the process group when launched by torchrun (``WORLD_SIZE`` > 1)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(device_spec, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank=rank, world_size=world_size, device=device)


def cleanup(ctx: DistContext) -> None:
    """Leave the process group (every rank, at the end of the run)."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: torch.nn.Module, ctx: DistContext) -> torch.nn.Module:
    """DDP around ``model`` (which already sits on ``ctx.device``) when distributed."""
    if not ctx.distributed:
        return model
    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The bare model inside a DDP wrapper (what checkpoints and validation use)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def sample_indices(micro_batch: int, batch_size: int, ctx: DistContext) -> list[int]:
    """Global sample indices of this rank for micro-batch number ``micro_batch``."""
    start = (micro_batch * ctx.world_size + ctx.rank) * batch_size
    return list(range(start, start + batch_size))


def any_rank(flag: bool, ctx: DistContext) -> bool:
    """True when ``flag`` is true on any rank: guard decisions must be the same everywhere."""
    if not ctx.distributed:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0], device=ctx.device)
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item() > 0)


def mean_over_ranks(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Average a small tensor of statistics (loss terms) over ranks, for logging."""
    if not ctx.distributed:
        return values
    values = values.clone()
    dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values / ctx.world_size


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (e.g. until rank 0 has written a checkpoint)."""
    if ctx.distributed:
        dist.barrier()
