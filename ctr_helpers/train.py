"""Training outside the model: seeding, the optimiser, ``fit``, ``evaluate`` and predictions.

``fit`` follows the BARS protocol (Zhu et al., SIGIR 2022) that the course benchmarks against:
Adam, mini-batches from tensors held in memory, an L2 penalty on the embedding table
(``emb_reg``) and on the other weights (``net_reg``), early stopping on validation AUC with
``patience``, the learning rate times ``lr_decay`` after every epoch without improvement, and
the best epoch's weights restored at the end.

The same ``fit`` runs under ``torchrun --nproc_per_node=N`` with ``DistributedDataParallel``:
see :func:`fit` and ``python -m ctr_helpers.train --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import ctypes
import functools
import json
import math
import os
import platform
import random
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from ctr_helpers import metrics

__all__ = [
    "History",
    "LazyAdam",
    "evaluate",
    "fit",
    "focal_loss",
    "keep_freed_memory",
    "make_optimizer",
    "predict_logits",
    "predict_proba",
    "precision_context",
    "resolve_precision",
    "seed_everything",
]

EVAL_BATCH = 65536


# --------------------------------------------------------------------------- seeding


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
    every step page-faults them in again and the kernel zeroes every page: on this course's
    2-core machine that was about a third of an FFM step and half of an xDeepFM step at Frappe
    shape. Raising ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` to 1 GiB keeps those blocks in
    the heap, reused from step to step. The price: the process holds on to its peak memory until
    it exits. No number changes (the same kernels run on the same data).

    :func:`fit` and :func:`predict_logits` call this; only the first call acts (malloc cannot be
    put back into its adaptive mode). Returns True when applied, False where there is no glibc
    (macOS, Windows, musl) or when the environment variable ``CTR_MALLOC_TUNING`` is ``0``.
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
    """``"fp32"`` or ``"bf16"``: the compute precision :func:`fit` and :func:`predict_logits` use.

    ``precision=None`` reads the ``CTR_PRECISION`` environment variable (default ``"auto"``).
    ``"auto"`` means bfloat16 mixed precision on a CPU with native bfloat16 arithmetic and float32
    everywhere else (GPUs included). Under ``"bf16"`` only the matrix products run in bfloat16
    (``torch.autocast``); weights, embeddings, the optimiser, the logit and the loss stay float32.
    """
    if precision is None:
        precision = os.environ.get("CTR_PRECISION", "auto").strip().lower() or "auto"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    return "bf16" if torch.device(device).type == "cpu" and _cpu_has_native_bf16() else "fp32"


def _has_matmuls(model: nn.Module | None) -> bool:
    return model is None or any(isinstance(m, nn.Linear) for m in model.modules())


def precision_context(
    precision: str | None = None,
    device: str | torch.device = "cpu",
    model: nn.Module | None = None,
):
    """A context manager that runs a model's forward pass in the resolved precision:
    ``torch.autocast(..., dtype=torch.bfloat16)`` for ``"bf16"``, a no-op for ``"fp32"``.

    Autocast changes only matrix products, and entering it costs a little on every batch; given
    ``model``, a model without any ``nn.Linear`` (LR, FM, FFM: gathers and sums only) therefore
    stays in plain float32."""
    device = torch.device(device)
    use_bf16 = resolve_precision(precision, device) == "bf16" and _has_matmuls(model)
    if not use_bf16:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


# --------------------------------------------------------------------------- optimiser


class LazyAdam(torch.optim.Optimizer):
    """Adam for CTR models: plain Adam on dense weights, row-wise Adam on sparse embedding tables.

    For a parameter whose gradient is dense this is ordinary Adam with coupled L2 weight decay,
    ``g <- g + weight_decay * w`` (the same as ``torch.optim.Adam(weight_decay=...)``, and the
    gradient of ``(weight_decay / 2) * ||w||^2``).

    For a parameter whose gradient is **sparse** (an ``nn.Embedding(..., sparse=True)`` table, in
    which only the rows ``R`` a batch used have a data gradient), ``l2_scope`` says what the L2
    term covers:

    - ``"table"`` (default): the penalty is ``(weight_decay / 2) * ||W||^2`` over the **whole**
      table, as BARS/FuxiCTR add it to every batch's loss. Every row then has a gradient
      (``weight_decay * w`` at least), so the step is exactly dense Adam on the table: identical
      to ``nn.Embedding(sparse=False)`` with ``torch.optim.Adam(weight_decay=...)``. It costs one
      pass over the table per step: nothing for Frappe's 5k rows, what dense-gradient libraries
      pay for Criteo's millions.
    - ``"rows"``: the penalty covers the rows the batch used, and the update is lazy: ``g_R <-
      g_R + weight_decay * w_R``, the moments and weights of ``R`` are updated as Adam would, every
      other row is left as it is (bias correction by the parameter's step count, as
      ``torch.optim.SparseAdam``). The cost is proportional to the rows used, not to the table
      size. This is a *weaker* regulariser (rare rows are pulled less often): on Frappe under the
      BARS protocol DeepFM reached test AUC 0.9819 with it and 0.9839 with ``"table"`` (seed
      2021).

    With ``weight_decay = 0`` both scopes take the lazy row-wise step (there is no penalty to
    spread over the table).
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        l2_scope: str = "table",
    ):
        if l2_scope not in ("table", "rows"):
            raise ValueError(f"l2_scope must be 'table' or 'rows', got {l2_scope!r}")
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"betas must be in [0, 1), got {betas}")
        if weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, l2_scope=l2_scope)
        super().__init__(params, defaults)

    def _state(self, p: torch.Tensor) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._rows_this_step = []  # (height, indices, rows, inverse) of _unique_rows, this step
        for group in self.param_groups:
            lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
            dense_p, dense_g, dense_m, dense_v, c1, c2 = [], [], [], [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self._state(p)
                state["step"] += 1
                bc1 = 1 - b1 ** state["step"]
                bc2 = 1 - b2 ** state["step"]
                grad = p.grad
                if grad.is_sparse and wd and group["l2_scope"] == "table":
                    grad = self._dense_grad(p)  # every row has an L2 gradient: dense Adam
                if grad.is_sparse:
                    self._sparse_step(p, state, lr, b1, b2, eps, wd, bc1, bc2)
                else:
                    dense_p.append(p)
                    dense_g.append(grad)
                    dense_m.append(state["exp_avg"])
                    dense_v.append(state["exp_avg_sq"])
                    c1.append(-lr / bc1)
                    c2.append(math.sqrt(bc2))
            if dense_p:
                self._dense_step(dense_p, dense_g, dense_m, dense_v, c1, c2, b1, b2, eps, wd)
        self._rows_this_step = []  # do not hold this step's index tensors until the next one
        return loss

    @staticmethod
    def _dense_step(ps, gs, ms, vs, c1, c2, b1, b2, eps, wd):
        # Plain Adam on a list of tensors at once (the _foreach kernels torch.optim.Adam uses).
        if wd:
            gs = torch._foreach_add(gs, ps, alpha=wd)
        torch._foreach_lerp_(ms, gs, 1 - b1)
        torch._foreach_mul_(vs, b2)
        torch._foreach_addcmul_(vs, gs, gs, value=1 - b2)
        denom = torch._foreach_sqrt(vs)
        torch._foreach_div_(denom, c2)
        torch._foreach_add_(denom, eps)
        torch._foreach_addcdiv_(ps, ms, denom, c1)

    @staticmethod
    def _add_rows(out: torch.Tensor, index: torch.Tensor, vals: torch.Tensor) -> torch.Tensor:
        """``out[index[i]] += vals[i]`` for every ``i`` (repeated rows add up); returns ``out``.
        Width-1 rows (the linear term) go through a flat scatter, several times faster than the
        row-wise kernel on ``[V, 1]``."""
        if out.dim() == 1 or (out.dim() == 2 and out.shape[1] == 1):
            out.view(-1).scatter_add_(0, index, vals.reshape(-1))
            return out
        return out.index_add_(0, index, vals)

    def _dense_grad(self, p: torch.Tensor) -> torch.Tensor:
        """The sparse gradient of ``p`` as a dense tensor (duplicate rows summed)."""
        return self._add_rows(torch.zeros_like(p), p.grad._indices()[0], p.grad._values())

    def _unique_rows(self, p: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The sorted distinct rows in ``idx`` and each entry's position among them, in O(n).

        A reusable boolean mask per table (kept outside ``state_dict``) replaces the sort that
        ``torch.unique``/``coalesce`` would do: mark, read the marks back, clear them. Tables of
        the same height looked up with the same indices in one step (a model's linear term and
        its embeddings) share the result: the second one costs one comparison of the indices.
        """
        cache = self._rows_this_step  # reset by every step()
        for height, seen, rows, inverse in cache:
            if height == p.shape[0] and seen.device == idx.device and torch.equal(seen, idx):
                return rows, inverse
        scratch = self.__dict__.setdefault("_scratch", {})
        if p not in scratch:  # one bool + one long per row, allocated once
            scratch[p] = (
                torch.zeros(p.shape[0], dtype=torch.bool, device=p.device),
                torch.empty(p.shape[0], dtype=torch.long, device=p.device),
            )
        mask, pos = scratch[p]
        # index_fill_/index_copy_/index_select: the same as mask[idx] = True, pos[rows] = ...,
        # pos[idx], at a quarter to two thirds of the cost of the advanced-indexing kernels
        mask.index_fill_(0, idx, True)
        rows = mask.nonzero().squeeze(1)
        mask.index_fill_(0, rows, False)
        pos.index_copy_(0, rows, torch.arange(len(rows), device=p.device))
        inverse = pos.index_select(0, idx)
        cache.append((p.shape[0], idx, rows, inverse))
        return rows, inverse

    def _sparse_step(self, p, state, lr, b1, b2, eps, wd, bc1, bc2):
        grad = p.grad
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # A width-1 table (the linear term) is updated through flat [V] views: 1-D gathers and
        # scatters are several times faster than the row-wise kernels on [V, 1].
        table = p  # the scratch buffers of _unique_rows are keyed by the parameter itself
        flat = p.dim() == 2 and p.shape[1] == 1
        if flat:
            p, m, v = p.view(-1), m.view(-1), v.view(-1)
        if grad.is_coalesced():
            rows, g = grad.indices()[0], grad.values()
            g = g.reshape(-1) if flat else g
        else:  # sum the duplicate rows of the batch
            rows, inverse = self._unique_rows(table, grad._indices()[0])
            vals = grad._values()
            g = self._add_rows(p.new_zeros((len(rows), *p.shape[1:])), inverse, vals)
        p_rows = p.index_select(0, rows) if wd or not flat else None
        if wd:
            g = g.add(p_rows, alpha=wd)
        m_rows = m.index_select(0, rows).lerp_(g, 1 - b1)
        v_rows = v.index_select(0, rows).mul_(b2).addcmul_(g, g, value=1 - b2)
        m.index_copy_(0, rows, m_rows)
        v.index_copy_(0, rows, v_rows)
        step = m_rows.div_(v_rows.sqrt_().div_(math.sqrt(bc2)).add_(eps))
        if flat:
            p.index_add_(0, rows, step, alpha=-lr / bc1)
        else:
            # ``rows`` are distinct, so read, update and write back the same rows: the same
            # numbers as ``index_add_``, which on a [V, D] table is ~5x slower (3 ms of an FM
            # step at Criteo shape)
            p.index_copy_(0, rows, p_rows.add_(step, alpha=-lr / bc1))


def _is_embedding(module: nn.Module) -> bool:
    return isinstance(module, nn.Embedding | nn.EmbeddingBag)


def make_optimizer(
    model: nn.Module,
    lr: float = 1e-3,
    emb_reg: float = 0.0,
    net_reg: float = 0.0,
    emb_l2: str = "table",
) -> LazyAdam:
    """One :class:`LazyAdam` with two parameter groups, as BARS regularises:

    - every embedding table (``nn.Embedding``/``nn.EmbeddingBag`` weights, including the width-1
      table of the linear term): L2 ``emb_reg`` over the whole table (``emb_l2="table"``, as
      BARS) or over the rows each batch uses (``emb_l2="rows"``, lazy updates whose cost does
      not grow with the table; see :class:`LazyAdam`);
    - every other trainable parameter (MLP, cross, attention weights and biases...): Adam with
      coupled L2 ``net_reg``.
    """
    if emb_l2 not in ("table", "rows"):
        raise ValueError(f"emb_l2 must be 'table' or 'rows', got {emb_l2!r}")
    emb_params, seen = [], set()
    for module in model.modules():
        if _is_embedding(module) and module.weight.requires_grad:
            if id(module.weight) not in seen:
                seen.add(id(module.weight))
                emb_params.append(module.weight)
    net_params = [p for p in model.parameters() if p.requires_grad and id(p) not in seen]
    groups = [
        dict(params=ps, weight_decay=wd, name=name, l2_scope=scope)
        for ps, wd, name, scope in (
            (emb_params, emb_reg, "embedding", emb_l2),
            (net_params, net_reg, "network", "table"),
        )
        if ps
    ]
    if not groups:
        raise ValueError("the model has no trainable parameters")
    return LazyAdam(groups, lr=lr)


# --------------------------------------------------------------------------- losses


def focal_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    gamma: float = 2.0,
    pos_weight: float | torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Focal loss (Lin et al., ICCV 2017) from logits:
    ``-w_t * (1 - p_t)^gamma * log(p_t)`` with ``p_t = p`` for a click and ``1 - p`` otherwise,
    ``w_t = pos_weight`` for a click and 1 otherwise. ``gamma = 0`` gives binary cross-entropy;
    larger ``gamma`` down-weights examples the model already gets right."""
    log_pt = -F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    loss = -((1 - log_pt.exp()) ** gamma) * log_pt
    if pos_weight is not None:
        loss = loss * torch.where(y > 0.5, torch.as_tensor(pos_weight, dtype=loss.dtype), 1.0)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _make_loss(loss: str, pos_weight, focal_gamma: float):
    if loss == "bce":
        pw = None if pos_weight is None else torch.as_tensor(float(pos_weight))
        return lambda logits, y: F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw)
    if loss == "focal":
        return lambda logits, y: focal_loss(logits, y, focal_gamma, pos_weight)
    raise ValueError(f"loss must be 'bce' or 'focal', got {loss!r}")


# --------------------------------------------------------------------------- data helpers


def _unpack(data, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``CTRSplit`` (anything with ``.x``/``.y``) or an ``(x, y)`` pair -> checked tensors."""
    if hasattr(data, "x") and hasattr(data, "y"):
        x, y = data.x, data.y
    else:
        try:
            x, y = data
        except (TypeError, ValueError):
            raise TypeError(
                f"{name} must be a CTRSplit or an (x, y) pair, got {type(data).__name__}"
            ) from None
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.dtype != torch.long:
        raise TypeError(f"{name}.x must be a LongTensor of field indices, got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name}.x must have shape [N, F], got {tuple(x.shape)}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(
            f"{name}.y must have shape [N] = [{len(x)}] to match x, got {tuple(y.shape)}"
        )
    return x, y.float()


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.inference_mode()
def predict_logits(
    model: nn.Module, x, batch_size: int = EVAL_BATCH, precision: str | None = None
) -> torch.Tensor:
    """Logits ``[N]`` for ``x`` (LongTensor ``[N, F]``, a ``CTRSplit`` or an ``(x, y)`` pair), in
    eval mode (dropout off, batch-norm running statistics), in batches of ``batch_size``, in the
    compute precision of :func:`resolve_precision`. The model's train/eval mode is restored
    afterwards. Returned on the CPU as float32."""
    if not torch.is_tensor(x):
        x = _unpack(x, "x")[0]
    keep_freed_memory()
    was_training = model.training
    model.eval()
    device = _device_of(model)
    try:
        with precision_context(precision, device, model):
            out = [
                model(x[i : i + batch_size].to(device)).float().cpu()
                for i in range(0, len(x), batch_size)
            ]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def predict_proba(
    model: nn.Module, x, batch_size: int = EVAL_BATCH, precision: str | None = None
) -> np.ndarray:
    """Click probabilities ``sigmoid(logits)`` as a NumPy array ``[N]`` (see predict_logits)."""
    return torch.sigmoid(predict_logits(model, x, batch_size, precision)).numpy()


def evaluate(
    model: nn.Module, data, batch_size: int = EVAL_BATCH, precision: str | None = None
) -> dict[str, float]:
    """``dict(auc=..., logloss=...)`` of the model on ``data`` (``CTRSplit`` or ``(x, y)``)."""
    x, y = _unpack(data, "data")
    p = predict_proba(model, x, batch_size, precision)
    return dict(auc=metrics.auc(y, p), logloss=metrics.logloss(y, p))


# --------------------------------------------------------------------------- distributed


def _dist_setup() -> tuple[int, int, torch.device | None]:
    """(rank, world_size, device): joins the process group torchrun describes if there is one."""
    if dist.is_available() and not dist.is_initialized():
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            use_cuda = torch.cuda.is_available()
            if use_cuda:
                torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
            dist.init_process_group("nccl" if use_cuda else "gloo")
    if dist.is_available() and dist.is_initialized():
        device = None
        if dist.get_backend() == "nccl":
            device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        return dist.get_rank(), dist.get_world_size(), device
    return 0, 1, None


def _gather_predictions(
    model: nn.Module, x: torch.Tensor, rank: int, world: int, device, precision: str
) -> torch.Tensor:
    """Each rank predicts a contiguous chunk of ``x``; every rank gets all logits back."""
    n = len(x)
    chunk = math.ceil(n / world)
    local = predict_logits(model, x[rank * chunk : (rank + 1) * chunk], precision=precision)
    padded = torch.zeros(chunk, dtype=torch.float32)
    padded[: len(local)] = local
    padded = padded.to(device)
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return torch.cat(parts).cpu()[:n]


def _sync_buffers(model: nn.Module, device) -> None:
    """Copy rank 0's buffers (batch-norm statistics) to every rank, so all ranks hold one model."""
    for b in model.buffers():
        if b.is_floating_point() or b.dtype == torch.long:
            t = b.data.to(device)
            dist.broadcast(t, src=0)
            b.data.copy_(t)


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """What ``fit`` did. ``epochs``: one dict per epoch (epoch, train_loss, val_auc, val_logloss,
    seconds, lr); ``best_epoch``/``best_val_auc``: the epoch whose weights were restored (the
    last epoch when there is no validation data); ``stopped_early``: patience ran out before the
    epoch cap."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_auc: float = float("nan")
    stopped_early: bool = False
    precision: str = "fp32"

    @property
    def seconds(self) -> float:
        return float(sum(e["seconds"] for e in self.epochs))

    def to_frame(self):
        """The per-epoch log as a pandas DataFrame indexed by epoch (for learning curves)."""
        import pandas as pd

        return pd.DataFrame(self.epochs).set_index("epoch")

    def __repr__(self) -> str:
        return (
            f"History({len(self.epochs)} epochs, best_epoch={self.best_epoch}, "
            f"best_val_auc={self.best_val_auc:.4f}, stopped_early={self.stopped_early})"
        )


# --------------------------------------------------------------------------- progress


def _in_notebook() -> bool:
    ipy = sys.modules.get("IPython")
    if ipy is None:
        return False
    shell = ipy.get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


def _progress_enabled(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    if os.environ.get("TQDM_DISABLE", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    return _in_notebook() or sys.stderr.isatty()


# --------------------------------------------------------------------------- fit


def fit(
    model: nn.Module,
    train,
    val=None,
    *,
    epochs: int = 100,
    batch_size: int = 4096,
    lr: float = 1e-3,
    emb_reg: float = 0.0,
    net_reg: float = 0.0,
    emb_l2: str = "table",
    loss: str = "bce",
    pos_weight: float | None = None,
    focal_gamma: float = 2.0,
    patience: int = 2,
    lr_decay: float = 0.1,
    min_lr: float = 1e-6,
    seed: int = 0,
    progress: bool | None = None,
    verbose: bool = False,
    optimizer: torch.optim.Optimizer | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
) -> History:
    """Train ``model`` on ``train`` and early-stop on ``val`` (each a ``CTRSplit`` or ``(x, y)``).

    Each epoch: shuffle the training rows (a ``torch.randperm`` from a generator seeded with
    ``seed`` and the epoch), take index batches of ``batch_size`` rows from the in-memory
    tensors, minimise the loss with :func:`make_optimizer` (``lr``, ``emb_reg``, ``net_reg``,
    ``emb_l2``: the embedding L2 over the whole table, as BARS, or over the rows used),
    then compute the validation AUC and logloss. An epoch whose AUC is not better than the best
    so far multiplies the learning rate by ``lr_decay`` (not below ``min_lr``); ``patience`` such
    epochs in a row stop training. The best epoch's weights are restored at the end and the
    model is left in eval mode.

    ``loss``: ``"bce"`` (binary cross-entropy on logits; ``pos_weight`` multiplies the loss of
    clicks) or ``"focal"`` (:func:`focal_loss` with ``focal_gamma`` and ``pos_weight``).
    ``seed`` seeds Python, NumPy and PyTorch at the start (dropout masks, shuffling), so two
    calls from the same initial weights give the same result. ``progress``: ``None`` shows one
    tqdm bar per fit when stderr is a terminal or in a notebook, unless ``TQDM_DISABLE`` is set;
    ``verbose`` also prints one line per epoch. ``optimizer``: your own instead of
    :func:`make_optimizer`. ``precision``: ``"auto"`` (the default, also via ``CTR_PRECISION``),
    ``"fp32"`` or ``"bf16"``; see :func:`resolve_precision`. Forward passes run under it, the loss,
    the gradients' accumulation into float32 weights and the optimiser do not change.
    ``fit`` first calls :func:`keep_freed_memory` (large per-batch temporaries are reused instead
    of being page-faulted back every step; set ``CTR_MALLOC_TUNING=0`` to leave malloc alone).

    Distributed: when a process group exists (or ``torchrun`` started this process with
    ``WORLD_SIZE > 1``; ``fit`` then creates it, gloo on CPU and NCCL with GPUs), the model is
    wrapped in ``DistributedDataParallel``. All ranks draw the same permutation; rank ``r`` takes
    every ``world``-th row of it, so each rank sees ``N // world`` rows per epoch and
    ``batch_size // world`` rows per step (the global batch stays ``batch_size``). Gradients are
    averaged (gloo also averages sparse embedding gradients; NCCL cannot, so on NCCL sparse
    embeddings are switched to dense gradients). Validation predictions are gathered from all
    ranks, so every rank takes the same early-stopping decisions and ends with the same weights;
    only rank 0 shows progress.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
    x_tr, y_tr = _unpack(train, "train")
    if len(x_tr) == 0:
        raise ValueError("train is empty")
    has_val = val is not None
    if has_val:
        x_va, y_va = _unpack(val, "val")

    keep_freed_memory()
    rank, world, dist_device = _dist_setup()
    distributed = world > 1
    seed_everything(seed + rank)  # dropout differs per rank; the shuffle below does not
    if dist_device is not None:
        device = dist_device
    device = torch.device(device) if device is not None else _device_of(model)
    model.to(device)
    x_tr, y_tr = x_tr.to(device), y_tr.to(device)
    precision = resolve_precision(precision, device)
    if not _has_matmuls(model):
        precision = "fp32"  # nothing for autocast to change (see precision_context)

    net = model
    if distributed:
        if dist.get_backend() == "nccl":
            for m in model.modules():  # NCCL has no sparse all-reduce
                if _is_embedding(m) and m.sparse:
                    m.sparse = False
        from torch.nn.parallel import DistributedDataParallel as DDP

        net = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    opt = (
        optimizer if optimizer is not None else make_optimizer(model, lr, emb_reg, net_reg, emb_l2)
    )
    loss_fn = _make_loss(loss, pos_weight, focal_gamma)

    n_local = len(x_tr) // world
    local_bs = max(1, batch_size // world)
    n_batches = math.ceil(n_local / local_bs)
    gen = torch.Generator().manual_seed(seed)

    show = rank == 0 and _progress_enabled(progress)
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(
            total=epochs * n_batches,
            desc=type(model).__name__,
            unit="batch",
            leave=True,
            disable=False,
        )

    hist = History(precision=precision)
    best_state, bad_epochs = None, 0
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(len(x_tr), generator=gen)
        if distributed:
            perm = perm[rank::world][:n_local]
        perm = perm.to(device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        for i in range(n_batches):
            idx = perm[i * local_bs : (i + 1) * local_bs]
            xb, yb = x_tr[idx], y_tr[idx]
            with precision_context(precision, device):
                logits = net(xb)
            batch_loss = loss_fn(logits.float(), yb)
            opt.zero_grad(set_to_none=True)
            batch_loss.backward()
            opt.step()
            loss_sum += batch_loss.detach() * len(idx)
            if bar is not None:
                bar.update(1)
        if distributed:
            dist.all_reduce(loss_sum)
            _sync_buffers(model, device)
        train_loss = float(loss_sum) / (n_local * world)
        if not math.isfinite(train_loss):
            raise FloatingPointError(
                f"training loss became {train_loss} in epoch {epoch}; lower lr (now "
                f"{opt.param_groups[0]['lr']:g}) or check the inputs"
            )

        row = dict(epoch=epoch, train_loss=train_loss, val_auc=float("nan"))
        row.update(val_logloss=float("nan"), lr=opt.param_groups[0]["lr"])
        improved = True
        if has_val:
            if distributed:
                logits = _gather_predictions(model, x_va, rank, world, device, precision)
            else:
                logits = predict_logits(model, x_va, precision=precision)
            p = torch.sigmoid(logits).numpy()
            row["val_auc"] = metrics.auc(y_va, p)
            row["val_logloss"] = metrics.logloss(y_va, p)
            improved = hist.best_epoch is None or row["val_auc"] > hist.best_val_auc
        row["seconds"] = time.perf_counter() - t0
        hist.epochs.append(row)

        if improved:
            hist.best_epoch, hist.best_val_auc, bad_epochs = epoch, row["val_auc"], 0
            if has_val:
                best_state = copy.deepcopy(model.state_dict())
        else:
            bad_epochs += 1
            for g in opt.param_groups:
                g["lr"] = max(g["lr"] * lr_decay, min_lr)
        if bar is not None:
            bar.set_postfix(
                epoch=epoch,
                loss=f"{train_loss:.4f}",
                val_auc=f"{row['val_auc']:.4f}",
                refresh=False,
            )
        if verbose and rank == 0:
            print(
                f"epoch {epoch:3d}  train_loss {train_loss:.4f}  val_auc {row['val_auc']:.4f}  "
                f"val_logloss {row['val_logloss']:.4f}  lr {row['lr']:.0e}  {row['seconds']:.1f}s",
                flush=True,
            )
        if bad_epochs >= patience:
            hist.stopped_early = epoch < epochs
            break

    if bar is not None:
        bar.total = bar.n  # early stopping: show the bar as complete, not stuck part-way
        bar.refresh()
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return hist


# --------------------------------------------------------------------------- demo entry point


def _demo_data(n: int, n_fields: int, vocab: int, seed: int):
    """Synthetic clicks with known pairwise structure: logit = sum of per-value effects + one
    interaction between fields 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, (n, n_fields), generator=g)
    w = torch.randn(n_fields, vocab, generator=g)
    inter = torch.randn(vocab, vocab, generator=g) * 2
    logit = w.gather(1, x.T).sum(0) * 0.5 + inter[x[:, 0], x[:, 1]] - 1.0
    y = torch.bernoulli(torch.sigmoid(logit), generator=g)
    return x, y


def _main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m ctr_helpers.train",
        description="Train one model on synthetic data; under `torchrun --nproc_per_node=N "
        "-m ctr_helpers.train --demo` every rank trains on its shard (DistributedDataParallel).",
    )
    ap.add_argument("--demo", action="store_true", help="run the synthetic demo (required)")
    ap.add_argument("--model", default="fm", help="a key of ctr_helpers.models.MODELS")
    ap.add_argument("--rows", type=int, default=40_000)
    ap.add_argument("--fields", type=int, default=6)
    ap.add_argument("--vocab", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="rank 0 writes a JSON summary here")
    args = ap.parse_args(argv)
    if not args.demo:
        ap.error("nothing to do: pass --demo")
    from ctr_helpers.models import get_model

    x, y = _demo_data(args.rows, args.fields, args.vocab, seed=1234)
    n_tr, n_va = int(0.8 * len(x)), int(0.9 * len(x))
    seed_everything(args.seed)
    model = get_model(args.model, [args.vocab] * args.fields)
    hist = fit(
        model,
        (x[:n_tr], y[:n_tr]),
        (x[n_tr:n_va], y[n_tr:n_va]),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        verbose=True,
    )
    rank, world, _ = _dist_setup()
    test = evaluate(model, (x[n_va:], y[n_va:]))
    if rank == 0:
        summary = dict(world_size=world, best_epoch=hist.best_epoch, test=test)
        print(json.dumps(summary))
        if args.out:
            tmp = f"{args.out}.tmp"
            with open(tmp, "w") as f:
                json.dump(summary, f, indent=2)
            os.replace(tmp, args.out)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    _main()
