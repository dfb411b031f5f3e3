"""Which number format page inference runs in: float32, or bfloat16 where the hardware has it.

Why: on a CPU with AMX tile units (Intel Sapphire Rapids and later) or a CUDA GPU with
bfloat16 (Ampere and later), convolutions in bfloat16 run about twice as fast as in float32;
measured on the shipped model, the real DSv2 page and held-out synthetic pages, the detections
at the operating threshold are the same and mAP moves in the third decimal (README,
"Page inference speed"). On a CPU without those units bfloat16 is emulated and slower, so
``auto`` only picks it where it pays. Under CPU autocast the convolutions and GroupNorm run in
bfloat16; decoding (thresholds, boxes, NMS) converts back to float32.
"""
from __future__ import annotations

import contextlib
from typing import ContextManager

import torch

PRECISIONS = ("auto", "fp32", "bf16")


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices in hardware (AMX tiles)."""
    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)  # private API: absent means no
    try:
        return bool(probe()) if probe is not None else False
    except Exception:  # noqa: BLE001 - an unanswerable probe means "no", never a crash
        return False


def resolve_precision(precision: str, device: torch.device | str) -> str:
    """``"fp32"`` or ``"bf16"`` for ``precision`` in ``PRECISIONS`` on ``device``.

    Raises ValueError for an unknown name or bf16 on a CUDA device that lacks it.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    device_type = torch.device(device).type
    cuda_bf16 = device_type == "cuda" and torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if precision == "auto":
        fast = cuda_bf16 if device_type == "cuda" else cpu_has_fast_bf16()
        return "bf16" if fast else "fp32"
    if precision == "bf16" and device_type == "cuda" and not cuda_bf16:
        raise ValueError("precision bf16: this CUDA device has no bfloat16 (use fp32)")
    return precision


def inference_autocast(precision: str, device: torch.device | str) -> ContextManager:
    """The autocast context for a resolved ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
