"""How the process computes: the compute precision (float32 or bfloat16 autocast) and glibc's
``malloc`` tuning. Neither changes what a model computes in float32; :mod:`ctr_helpers.train`
applies both and re-exports every name here.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import sys

import torch
from torch import nn

__all__ = [
    "MALLOC_ENV",
    "PRECISIONS",
    "has_matmuls",
    "keep_freed_memory",
    "precision_context",
    "resolve_precision",
]

# --------------------------------------------------------------------------- memory

MALLOC_ENV = "CTR_MALLOC_TUNING"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)
_KEEP_BYTES = 1 << 30


@functools.cache
def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to keep freed blocks below 1 GiB for reuse (process-wide, once).

    A training step allocates the same large temporaries batch after batch: FFM's
    ``[B, F, F, D]`` products, CIN's outer products, tens to hundreds of MB each. With glibc's
    defaults such blocks are mapped fresh or handed back to the operating system when freed, so
    every step page-faults them in again and the kernel zeroes every page. Raising
    ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` to 1 GiB keeps those blocks in the heap, reused
    from step to step. The price: the process holds on to its peak memory until it exits. No
    number changes (the same kernels run on the same data).

    :func:`~ctr_helpers.train.fit` and :func:`~ctr_helpers.train.predict_logits` call this; only
    the first call acts (malloc cannot be put back into its adaptive mode). Returns True when
    applied, False where there is no glibc (macOS, Windows, musl) or when the environment
    variable ``CTR_MALLOC_TUNING`` is ``0``.
    """
    if os.environ.get(MALLOC_ENV, "1").strip() == "0":
        return False
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mmap threshold first: setting either one turns glibc's adaptive thresholds off
    return bool(mallopt(_M_MMAP_THRESHOLD, _KEEP_BYTES) and mallopt(_M_TRIM_THRESHOLD, _KEEP_BYTES))


# --------------------------------------------------------------------------- precision

PRECISIONS = ("auto", "fp32", "bf16")


@functools.cache
def _cpu_has_native_bf16() -> bool:
    """True when the CPU multiplies bfloat16 in hardware (x86 AVX512-BF16 or AMX-BF16).

    Without it bfloat16 is emulated and slower than float32, so ``"auto"`` stays in float32
    (most laptops)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def resolve_precision(precision: str | None = None, device: str | torch.device = "cpu") -> str:
    """``"fp32"`` or ``"bf16"``: the compute precision ``fit`` and ``predict_logits`` use.

    ``precision=None`` reads the ``CTR_PRECISION`` environment variable (default ``"auto"``).
    ``"auto"`` means bfloat16 mixed precision on a CPU with native bfloat16 arithmetic and float32
    everywhere else (GPUs included). Under ``"bf16"`` only the matrix products run in bfloat16
    (``torch.autocast``); weights, embeddings, the optimiser, the logit and the loss stay float32.

    >>> resolve_precision("fp32"), resolve_precision("bf16", "cuda")
    ('fp32', 'bf16')
    """
    if precision is None:
        precision = os.environ.get("CTR_PRECISION", "auto").strip().lower() or "auto"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    return "bf16" if torch.device(device).type == "cpu" and _cpu_has_native_bf16() else "fp32"


def has_matmuls(model: nn.Module | None) -> bool:
    """Whether autocast can change anything in ``model``: it holds an ``nn.Linear`` (``None``:
    assume it does)."""
    return model is None or any(isinstance(m, nn.Linear) for m in model.modules())


def precision_context(
    precision: str | None = None,
    device: str | torch.device = "cpu",
    model: nn.Module | None = None,
) -> contextlib.AbstractContextManager:
    """A context manager that runs a model's forward pass in the resolved precision:
    ``torch.autocast(..., dtype=torch.bfloat16)`` for ``"bf16"``, a no-op for ``"fp32"``.

    Autocast changes only matrix products, and entering it costs a little on every batch; given
    ``model``, a model without any ``nn.Linear`` (LR, FM, FFM: gathers and sums only) therefore
    stays in plain float32.

    >>> with precision_context("bf16", model=nn.Embedding(3, 2)):  # no matmul: plain float32
    ...     torch.is_autocast_enabled("cpu")
    False
    """
    device = torch.device(device)
    use_bf16 = resolve_precision(precision, device) == "bf16" and has_matmuls(model)
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
