"""How the process computes: the compute precision (float32, or bfloat16 autocast when asked for),
glibc's ``malloc`` tuning (when asked for) and the rows per scoring batch (a memory budget).
Neither of the first two is switched on by default; the malloc tuning changes no number.
:mod:`ctr_helpers.train` applies all three and re-exports every name here.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import platform
import sys
import warnings

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

__all__ = [
    "EVAL_BATCH",
    "EVAL_MEMORY_BUDGET",
    "MALLOC_ENV",
    "PRECISIONS",
    "PRECISION_ENV",
    "cpu_has_native_bf16",
    "eval_batch_size",
    "has_matmuls",
    "keep_freed_memory",
    "malloc_tuning_requested",
    "precision_context",
    "resolve_precision",
]

# --------------------------------------------------------------------------- memory

MALLOC_ENV = "CTR_MALLOC_TUNING"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)
_KEEP_BYTES = 1 << 30


def malloc_tuning_requested() -> bool:
    """Whether the environment opts in to the malloc tuning: ``CTR_MALLOC_TUNING=1``.

    :func:`~ctr_helpers.train.fit` and :func:`~ctr_helpers.train.predict_logits` call
    :func:`keep_freed_memory` only then; by default they leave ``malloc`` as it is.
    """
    return os.environ.get(MALLOC_ENV, "").strip() == "1"


@functools.cache
def keep_freed_memory() -> bool:
    """Opt in: ask glibc's ``malloc`` to keep freed blocks below 1 GiB for reuse (process-wide,
    once, for the rest of the process).

    A training step allocates the same large temporaries batch after batch: FFM's
    ``[B, F, F, D]`` products, CIN's outer products, tens to hundreds of MB each. With glibc's
    defaults such blocks are mapped fresh or handed back to the operating system when freed, so
    every step page-faults them in again and the kernel zeroes every page. Raising
    ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` to 1 GiB keeps those blocks in the heap, reused
    from step to step. The price: the process holds on to its peak memory until it exits, and
    every library in the process gets the same malloc. No number changes (the same kernels run on
    the same data).

    Nothing in the package calls this unless asked: call it yourself once (as
    ``benchmarks/speed.py`` does), or set ``CTR_MALLOC_TUNING=1`` and ``fit`` /
    ``predict_logits`` call it (:func:`malloc_tuning_requested`). Only the first call acts
    (malloc cannot be put back into its adaptive mode). Returns True when applied, False where
    there is no glibc (macOS, Windows, musl) or when ``CTR_MALLOC_TUNING=0`` forbids it.
    """
    if os.environ.get(MALLOC_ENV, "").strip() == "0":
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

PRECISIONS = ("fp32", "bf16")
PRECISION_ENV = "CTR_PRECISION"


@functools.cache
def cpu_has_native_bf16() -> bool:
    """True when the CPU multiplies bfloat16 in hardware (x86 AVX512-BF16 or AMX-BF16).

    Nothing switches to bfloat16 on its own because of this; it tells where ``precision="bf16"``
    can pay off (without it bfloat16 is emulated and slower than float32, as on most laptops)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return False
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def resolve_precision(precision: str | None = None, device: str | torch.device = "cpu") -> str:
    """``"fp32"`` or ``"bf16"``: the compute precision ``fit`` and ``predict_logits`` use.

    Float32 unless asked otherwise, on every CPU and GPU: ``precision=None`` reads the
    ``CTR_PRECISION`` environment variable and falls back to ``"fp32"``. ``"bf16"`` is the opt-in
    to bfloat16 mixed precision: only the matrix products (``nn.Linear``, matmul) run in bfloat16
    under ``torch.autocast``; the weights, embeddings, the linear term, the FM/FFM pair terms, the
    logit, the loss and the optimiser stay float32. ``"auto"`` (the default before, bfloat16 on
    CPUs with native bfloat16) is accepted as a deprecated alias of ``"fp32"`` with a
    ``FutureWarning``. ``device`` is accepted for compatibility; it no longer changes the answer.

    >>> resolve_precision("fp32"), resolve_precision("bf16", "cuda")
    ('fp32', 'bf16')
    """
    source = ""
    if precision is None:
        source = f" (from the environment variable {PRECISION_ENV})"
        precision = os.environ.get(PRECISION_ENV, "").strip().lower() or "fp32"
    if precision == "auto":
        warnings.warn(
            f'precision "auto"{source} is deprecated and now means "fp32": float32 is the '
            'default on every machine; pass "bf16" for bfloat16 mixed precision',
            FutureWarning,
            stacklevel=2,
        )
        return "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}{source}")
    return precision


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


# --------------------------------------------------------------------------- scoring batches

EVAL_BATCH = 65536  # the most rows per scoring batch
EVAL_MEMORY_BUDGET = 256 * 2**20  # bytes: the largest tensor one scoring batch may create
_PROBE_ROWS = 256


class _LargestNewTensor(TorchDispatchMode):
    """Records the size in bytes of the largest tensor any operator creates (views of, and
    in-place results on, existing tensors share their memory and do not count)."""

    def __init__(self) -> None:
        super().__init__()
        self.nbytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        seen = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if _dense(t)}
        for t in tree_leaves(out):
            if _dense(t) and t.untyped_storage().data_ptr() not in seen:
                self.nbytes = max(self.nbytes, t.nbytes)
        return out


def _dense(t) -> bool:
    return isinstance(t, torch.Tensor) and t.layout == torch.strided


def eval_batch_size(
    model: nn.Module,
    x: torch.Tensor,
    precision: str | None = None,
    budget: int | None = None,
) -> int:
    """Rows per scoring batch for ``model`` on ``x`` ``[N, F]``: as many as keep the largest
    tensor of a batch within ``budget`` bytes (``None``: ``EVAL_MEMORY_BUDGET``, 256 MiB), at
    most ``EVAL_BATCH``.

    The size per row is measured, not guessed: one probe forward pass on the first 256 rows (in
    eval mode, without gradients, in ``precision``) records the largest tensor any operator
    creates (``TorchDispatchMode``), divided by the probe's rows. Every intermediate of these
    models grows in proportion to the batch, so a batch of ``budget / per_row`` rows keeps its
    largest one near ``budget``; the peak memory of a batch is a few such tensors. Most models
    get ``EVAL_BATCH`` rows (DeepFM at Criteo shape needs ~2.5 kB per row); xDeepFM at Criteo
    shape gets ~2,700 with its default CIN [64] and ~500 with CIN [200, 200, 200] (an outer
    product of ~0.5 MB per row).
    """
    n = len(x)
    if n <= _PROBE_ROWS:
        return max(n, 1)
    was_training = model.training
    model.eval()
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    probe = _LargestNewTensor()
    try:
        with torch.inference_mode(), precision_context(precision, device, model), probe:
            model(x[:_PROBE_ROWS].to(device))
    finally:
        model.train(was_training)
    per_row = max(1, math.ceil(probe.nbytes / _PROBE_ROWS))
    budget = EVAL_MEMORY_BUDGET if budget is None else budget
    return int(min(EVAL_BATCH, max(1, budget // per_row)))
