"""The training DataLoader: micro-batches chosen by step number, cut by worker processes.

A sample is a pure function of ``(seed, index)`` (see :mod:`detector.data.dataset`) and the
indices of micro-batch ``m`` are a pure function of ``m`` (the engine passes
``distributed.sample_indices``). :class:`StepBatchSampler` yields those index lists from a start
position onward, so the batches do not depend on the number of workers or on their scheduling:
workers only change *when* a batch is ready, never *what* it holds. Resuming, rolling back and
skipping a batch need no sampler state: :class:`BatchStream` restarts the sampler at the
micro-batch the loop asks for (the persistent workers stay alive across restarts).

Workers ignore SIGINT and SIGTERM: Ctrl-C reaches the whole process group, and the training
process must be able to finish its step (and fetch its last micro-batches) before it saves.
A worker still exits with the training process (DataLoader's watchdog, within ~5 s of a kill).
"""
from __future__ import annotations

import signal
from typing import Callable, Iterator, Optional

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from detector.data.dataset import collate_batch

#: Micro-batches each worker prepares ahead (DataLoader's ``prefetch_factor``).
PREFETCH_PER_WORKER = 2
#: Asked for a micro-batch at most this far ahead of the stream, the stream reads up to it instead
#: of restarting (a skipped batch after a rollback is one step ahead: no worker restart for it).
MAX_READ_AHEAD = 8


class StepBatchSampler(Sampler[list[int]]):
    """Index lists of micro-batches ``start, start + 1, ..., stop - 1``.

    Args:
        indices_of: micro-batch number -> the sample indices this process trains on.
        stop: micro-batches in the whole run (the sampler ends there).
    """

    def __init__(self, indices_of: Callable[[int], list[int]], stop: int) -> None:
        self.indices_of = indices_of
        self.start = 0
        self.stop = stop

    def __iter__(self) -> Iterator[list[int]]:
        for micro_batch in range(self.start, self.stop):
            yield list(self.indices_of(micro_batch))

    def __len__(self) -> int:
        return max(self.stop - self.start, 0)


def _quiet_worker(worker_id: int) -> None:
    """Leave Ctrl-C / SIGTERM to the training process (it stops at a step boundary and saves)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def build_loader(dataset: Dataset, sampler: StepBatchSampler, num_workers: int, pin_memory: bool,
                 seed: int = 0) -> DataLoader:
    """A DataLoader over ``sampler``'s micro-batches, collated to ``([B, 1, S, S], B targets)``.

    Args:
        num_workers: 0 cuts the crops in this process (same batches, no overlap with the step).
        pin_memory: page-locked batches (CUDA: asynchronous copies to the GPU).
        seed: seeds the loader's own generator, so creating an iterator never draws from the
            global torch RNG (which a checkpoint captures: resume must find it untouched).
    """
    extra = {}
    if num_workers > 0:
        extra = {"persistent_workers": True, "prefetch_factor": PREFETCH_PER_WORKER,
                 "worker_init_fn": _quiet_worker}
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, collate_fn=collate_batch,
                      pin_memory=pin_memory, generator=torch.Generator().manual_seed(seed), **extra)


class BatchStream:
    """Micro-batches by number from a DataLoader, restarted wherever the loop goes next.

    ``get(m)`` returns micro-batch ``m``: the next one of the running iterator when the loop
    goes on in order, else (resume, rollback) the iterator restarts at ``m``.
    """

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader
        self.sampler: StepBatchSampler = loader.batch_sampler
        self._iterator: Optional[Iterator] = None
        self._next = -1  # the micro-batch the running iterator yields next
        self.restarts = 0

    def get(self, micro_batch: int) -> tuple[torch.Tensor, list[dict]]:
        """Micro-batch ``micro_batch``: ``([B, 1, S, S] images, B target dicts)``, on the CPU."""
        if self._iterator is not None and self._next <= micro_batch < self._next + MAX_READ_AHEAD:
            while self._next < micro_batch:  # a skipped batch: read past it
                next(self._iterator)
                self._next += 1
        else:
            self.sampler.start = micro_batch
            self._iterator = iter(self.loader)
            self._next = micro_batch
            self.restarts += 1
        batch = next(self._iterator)
        self._next += 1
        return batch

    def close(self) -> None:
        """Stop the worker processes (the loader is unusable afterwards)."""
        iterator, self._iterator = self._iterator, None
        if iterator is not None and hasattr(iterator, "_shutdown_workers"):
            iterator._shutdown_workers()
        self.loader._iterator = None  # the persistent iterator would otherwise outlive the run
