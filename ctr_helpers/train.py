"""Training outside the model: seeding, the losses, ``fit``, ``evaluate`` and predictions.

``fit`` follows the BARS protocol (Zhu et al., SIGIR 2022) that the course benchmarks against:
Adam, mini-batches from tensors held in memory, an L2 penalty on the embedding table
(``emb_reg``) and on the other weights (``net_reg``), early stopping on validation AUC with
``patience``, the learning rate times ``lr_decay`` after every epoch without improvement, and
the best epoch's weights restored at the end (:class:`EarlyStopping`).

The pieces ``fit`` stands on live beside it and are re-exported here: the optimiser
(:class:`LazyAdam`, :func:`make_optimizer`) in :mod:`ctr_helpers.optim`, the compute precision
and malloc tuning (:func:`resolve_precision`, :func:`precision_context`,
:func:`keep_freed_memory`) in :mod:`ctr_helpers.runtime`, and what changes under ``torchrun``
in :mod:`ctr_helpers.distributed`. The same ``fit`` runs under ``torchrun --nproc_per_node=N``
with ``DistributedDataParallel``: see :func:`fit` and ``python -m ctr_helpers.train --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ctr_helpers import distributed, metrics
from ctr_helpers.models import CTRModel, _inputs_validated, _is_validated
from ctr_helpers.optim import LazyAdam, make_optimizer, sparse_embedding_grads
from ctr_helpers.runtime import (
    EVAL_BATCH,
    EVAL_MEMORY_BUDGET,
    MALLOC_ENV,
    PRECISION_ENV,
    PRECISIONS,
    cpu_has_native_bf16,
    eval_batch_size,
    has_matmuls,
    keep_freed_memory,
    malloc_tuning_requested,
    precision_context,
    resolve_precision,
)

if TYPE_CHECKING:
    import pandas as pd

    from ctr_helpers.data import CTRSplit

    #: A labelled split: a ``CTRSplit`` (anything with ``.x`` and ``.y``) or an ``(x, y)`` pair.
    Split = CTRSplit | tuple[torch.Tensor, torch.Tensor]
    #: What the predict functions score: a LongTensor ``[N, F]`` or a split (labels unused).
    Features = torch.Tensor | Split

__all__ = [
    "EVAL_BATCH",
    "EVAL_MEMORY_BUDGET",
    "MALLOC_ENV",
    "PRECISION_ENV",
    "PRECISIONS",
    "EarlyStopping",
    "History",
    "LazyAdam",
    "cpu_has_native_bf16",
    "eval_batch_size",
    "evaluate",
    "fit",
    "focal_loss",
    "keep_freed_memory",
    "make_optimizer",
    "malloc_tuning_requested",
    "predict_logits",
    "predict_proba",
    "precision_context",
    "resolve_precision",
    "seed_everything",
    "sparse_embedding_grads",
]


# --------------------------------------------------------------------------- seeding


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU) with ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


# --------------------------------------------------------------------------- losses


def focal_loss(
    logits: torch.Tensor,
    y: torch.Tensor,
    gamma: float = 2.0,
    pos_weight: float | torch.Tensor | None = None,
    reduction: str = "mean",
) -> torch.Tensor:
    """Focal loss (Lin et al., ICCV 2017) from logits ``[N]`` and labels ``y`` ``[N]``:
    ``-w_t * (1 - p_t)^gamma * log(p_t)`` with ``p_t = p`` for a click and ``1 - p`` otherwise,
    ``w_t = pos_weight`` for a click and 1 otherwise. ``gamma = 0`` gives binary cross-entropy;
    larger ``gamma`` down-weights examples the model already gets right. ``reduction``:
    ``"mean"``, ``"sum"`` or anything else for the per-example losses ``[N]``.

    >>> logits, y = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([1.0, 1.0, 0.0])
    >>> bce = F.binary_cross_entropy_with_logits(logits, y)
    >>> torch.allclose(focal_loss(logits, y, gamma=0.0), bce)
    True
    >>> round(focal_loss(torch.tensor([0.0]), torch.tensor([1.0])).item(), 4)  # 0.5^2 * log 2
    0.1733
    """
    log_pt = -F.binary_cross_entropy_with_logits(logits, y, reduction="none")
    loss = -((1 - log_pt.exp()) ** gamma) * log_pt
    if pos_weight is not None:
        loss = loss * torch.where(y > 0.5, torch.as_tensor(pos_weight, dtype=loss.dtype), 1.0)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _make_loss(
    loss: str, pos_weight: float | None, focal_gamma: float
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``fit``'s loss by name: ``(logits [B], y [B]) -> scalar mean loss``."""
    if loss == "bce":
        pw = None if pos_weight is None else torch.as_tensor(float(pos_weight))
        return lambda logits, y: F.binary_cross_entropy_with_logits(logits, y, pos_weight=pw)
    if loss == "focal":
        return lambda logits, y: focal_loss(logits, y, focal_gamma, pos_weight)
    raise ValueError(f"loss must be 'bce' or 'focal', got {loss!r}")


# --------------------------------------------------------------------------- data helpers


def _unpack(data: Split, name: str) -> tuple[torch.Tensor, torch.Tensor]:
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


def _check_x(model: nn.Module, x: torch.Tensor, name: str) -> None:
    """Check all of ``x`` once, where it enters (:meth:`CTRModel.check_input`, the message
    naming ``name``), unless an enclosing package loop already did; the batch loops then run
    inside :func:`_inputs_validated` and skip the per-batch check."""
    if isinstance(model, CTRModel) and not _is_validated(model):
        model.check_input(x, name=name)


def _device_of(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


# --------------------------------------------------------------------------- prediction


@torch.inference_mode()
def predict_logits(
    model: nn.Module, x: Features, batch_size: int | None = None, precision: str | None = None
) -> torch.Tensor:
    """Logits ``[N]`` for ``x`` (LongTensor ``[N, F]``, a ``CTRSplit`` or an ``(x, y)`` pair), in
    eval mode (dropout off, batch-norm running statistics), in batches of ``batch_size`` rows, in
    the compute precision of :func:`resolve_precision`. The model's train/eval mode is restored
    afterwards. Returned on the CPU as float32. ``x`` is checked once, whole
    (:meth:`CTRModel.check_input`), not per batch. ``batch_size=None``: as many rows as keep
    the largest intermediate tensor of a batch within ``EVAL_MEMORY_BUDGET`` (256 MiB), at most
    ``EVAL_BATCH`` (:func:`eval_batch_size`, one probe pass measures it)."""
    if not torch.is_tensor(x):
        x = _unpack(x, "x")[0]
    _check_x(model, x, "x")
    if malloc_tuning_requested():  # opt-in (CTR_MALLOC_TUNING=1), see keep_freed_memory
        keep_freed_memory()
    was_training = model.training
    model.eval()
    device = _device_of(model)
    precision = resolve_precision(precision, device)
    try:
        if batch_size is None:
            with _inputs_validated(model):
                batch_size = eval_batch_size(model, x, precision)
        with precision_context(precision, device, model), _inputs_validated(model):
            out = [
                model(x[i : i + batch_size].to(device)).float().cpu()
                for i in range(0, len(x), batch_size)
            ]
    finally:
        model.train(was_training)
    return torch.cat(out) if out else torch.empty(0)


def predict_proba(
    model: nn.Module, x: Features, batch_size: int | None = None, precision: str | None = None
) -> np.ndarray:
    """Click probabilities ``sigmoid(logits)`` as a NumPy array ``[N]`` (see predict_logits)."""
    return torch.sigmoid(predict_logits(model, x, batch_size, precision)).numpy()


def evaluate(
    model: nn.Module, data: Split, batch_size: int | None = None, precision: str | None = None
) -> dict[str, float]:
    """``dict(auc=..., logloss=...)`` of the model on ``data`` (``CTRSplit`` or ``(x, y)``).

    Both are computed from the logits in float64 (:func:`metrics.auc_from_logits`,
    :func:`metrics.logloss_from_logits`): float32 probabilities of confident predictions round
    to exactly 1.0 and would tie. ``data`` with a single class raises ``ValueError``."""
    x, y = _unpack(data, "data")
    _check_labels(y, "data")
    _check_x(model, x, "data.x")
    with _inputs_validated(model):
        z = predict_logits(model, x, batch_size, precision)
    return _scores(y, z)


def _scores(y: torch.Tensor, logits: torch.Tensor) -> dict[str, float]:
    """AUC and logloss of ``logits`` against ``y``, from the logits (no float32 sigmoid)."""
    z = logits.double().numpy()
    return dict(auc=metrics.auc_from_logits(y, z), logloss=metrics.logloss_from_logits(y, z))


def _check_labels(y: torch.Tensor, name: str) -> None:
    """``y`` holds 0/1 labels of both classes (AUC needs clicks and non-clicks), or a
    ``ValueError`` naming the split."""
    bad = torch.nonzero((y != 0) & (y != 1))
    if len(bad):
        row = int(bad[0, 0])
        raise ValueError(f"{name}.y must hold 0/1 labels; row {row} has {float(y[row]):g}")
    if len(y) and bool(y.min() == y.max()):
        raise ValueError(
            f"{name} split has a single class (all {int(y[0])}, {len(y)} rows); "
            "AUC needs both clicks and non-clicks"
        )


# --------------------------------------------------------------------------- history


@dataclass
class History:
    """What ``fit`` did. ``epochs``: one dict per finished epoch (epoch, train_loss, val_auc,
    val_logloss, lr, seconds); ``best_epoch``/``best_val_auc``: the epoch whose weights were
    restored (the last epoch when there is no validation data); ``stopped_early``: patience ran
    out before the epoch cap; ``interrupted``: ``None``, or what ended ``fit`` early with an
    exception (``"KeyboardInterrupt"``, or the ``FloatingPointError`` of a diverged model), whose
    ``exc.history`` is this object."""

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_auc: float = float("nan")
    stopped_early: bool = False
    precision: str = "fp32"
    interrupted: str | None = None

    @property
    def seconds(self) -> float:
        return float(sum(e["seconds"] for e in self.epochs))

    def to_frame(self) -> pd.DataFrame:
        """The per-epoch log as a pandas DataFrame indexed by epoch (for learning curves)."""
        import pandas as pd

        return pd.DataFrame(self.epochs).set_index("epoch")

    def __repr__(self) -> str:
        return (
            f"History({len(self.epochs)} epochs, best_epoch={self.best_epoch}, "
            f"best_val_auc={self.best_val_auc:.4f}, stopped_early={self.stopped_early})"
        )


# --------------------------------------------------------------------------- early stopping


class EarlyStopping:
    """Early stopping on a validation metric (higher is better) with learning-rate decay on
    plateau, as BARS: an epoch whose metric does not beat the best so far by more than
    ``min_delta`` multiplies every parameter group's learning rate by ``lr_decay`` (not below
    ``min_lr``); ``patience`` such epochs in a row and :attr:`should_stop` turns True
    (``patience=0`` acts as 1: stop at the first epoch without improvement, never while
    improving; negative raises ``ValueError``). ``min_delta=1e-6`` is FuxiCTR's (which counts
    ``metric >= best + min_delta`` as better, the same but for an exact tie at the threshold);
    ``0.0``: any increase counts. The best epoch's weights (a deep copy of
    ``model.state_dict()``) are kept for :meth:`restore`.

    >>> model = nn.Linear(1, 1)
    >>> opt = torch.optim.SGD(model.parameters(), lr=1.0)
    >>> stop = EarlyStopping(model, opt, patience=2, lr_decay=0.5, min_lr=0.3)
    >>> for epoch, auc in enumerate([0.70, 0.75, 0.74, 0.75], start=1):
    ...     improved = stop.step(epoch, auc)
    ...     print(epoch, improved, opt.param_groups[0]["lr"], stop.should_stop)
    1 True 1.0 False
    2 True 1.0 False
    3 False 0.5 False
    4 False 0.3 True
    >>> stop.best_epoch, stop.best_metric
    (2, 0.75)
    """

    def __init__(
        self,
        model: nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        patience: int = 2,
        lr_decay: float = 0.1,
        min_lr: float = 1e-6,
        min_delta: float = 1e-6,
    ) -> None:
        _check_patience(patience)
        if not 0 < lr_decay <= 1:
            raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")
        _check_min_delta(min_delta)
        self.model, self.optimizer = model, optimizer
        self.patience, self.lr_decay, self.min_lr = patience, lr_decay, min_lr
        self.min_delta = min_delta
        self.best_epoch: int | None = None
        self.best_metric = float("nan")
        self.best_state: dict | None = None
        self.bad_epochs = 0

    def step(self, epoch: int, metric: float | None) -> bool:
        """Record ``epoch``'s metric; returns whether it is the new best. ``metric=None`` (no
        validation data): every epoch counts as the best, no weights are kept, nothing decays. A
        NaN ``metric`` raises ``ValueError`` (it would never count as an improvement)."""
        if metric is not None and math.isnan(metric):
            raise ValueError(f"the validation metric of epoch {epoch} is NaN")
        improved = (
            metric is None or self.best_epoch is None or metric > self.best_metric + self.min_delta
        )
        if improved:
            self.best_epoch, self.bad_epochs = epoch, 0
            self.best_metric = float("nan") if metric is None else metric
            if metric is not None:
                self.best_state = copy.deepcopy(self.model.state_dict())
        else:
            self.bad_epochs += 1
            for g in self.optimizer.param_groups:
                g["lr"] = max(g["lr"] * self.lr_decay, self.min_lr)
        return improved

    @property
    def should_stop(self) -> bool:
        """``patience`` epochs in a row without improvement (at least one: ``patience=0`` does
        not stop an improving run)."""
        return self.bad_epochs >= max(self.patience, 1)

    def restore(self) -> None:
        """Load the best epoch's weights back into the model (if any were kept)."""
        if self.best_state is not None:
            self.model.load_state_dict(self.best_state)


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


def _progress_bar(show: bool, total: int, desc: str):
    """One tqdm bar for the whole fit (``total`` batches), or None."""
    if not show:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="batch", leave=True, disable=False)


def _report(row: dict, bar, verbose: bool) -> None:
    """Show one finished epoch: the bar's postfix, and a printed line when ``verbose``."""
    train_loss = row["train_loss"]
    if bar is not None:
        bar.set_postfix(
            epoch=row["epoch"],
            loss=f"{train_loss:.4f}",
            val_auc=f"{row['val_auc']:.4f}",
            refresh=False,
        )
    if verbose:
        print(
            f"epoch {row['epoch']:3d}  train_loss {train_loss:.4f}  val_auc {row['val_auc']:.4f}  "
            f"val_logloss {row['val_logloss']:.4f}  lr {row['lr']:.0e}  {row['seconds']:.1f}s",
            flush=True,
        )


def _close_bar(bar) -> None:
    if bar is not None:
        bar.total = bar.n  # early stopping: show the bar as complete, not stuck part-way
        bar.refresh()
        bar.close()


# --------------------------------------------------------------------------- fit's steps


class _Batches:
    """The training rows ``x`` ``[N, F]``, ``y`` ``[N]`` in shuffled mini-batches.

    Every epoch draws one ``torch.randperm(N)`` from a generator seeded with ``seed``. All DDP
    ranks draw the same permutation and rank ``r`` takes every ``world``-th row of it, so each
    rank sees ``N // world`` rows per epoch in batches of ``batch_size // world`` rows (the global
    batch stays ``batch_size``). A final batch of a single row joins the batch before it (one
    batch of ``batch_size + 1`` rows): batch norm cannot train on one row, and every row is still
    used once per epoch. Any other final batch is left as it is."""

    def __init__(
        self, x: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, rank: int, world: int
    ) -> None:
        self.x, self.y, self.rank, self.world = x, y, rank, world
        self.n_local = len(x) // world
        self.size = max(1, batch_size // world)
        self.n_batches = math.ceil(self.n_local / self.size)
        if self.n_batches > 1 and self.n_local % self.size == 1:
            self.n_batches -= 1  # the last row joins the batch before it
        self.gen = torch.Generator().manual_seed(seed)

    def epoch(self, device: torch.device) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """This epoch's ``(x_batch, y_batch)`` pairs (the permutation is drawn now)."""
        perm = torch.randperm(len(self.x), generator=self.gen)
        if self.world > 1:
            perm = perm[self.rank :: self.world][: self.n_local]
        perm = perm.to(device)
        starts = [i * self.size for i in range(self.n_batches)]
        batches = (perm[a:b] for a, b in zip(starts, [*starts[1:], self.n_local], strict=True))
        return ((self.x[idx], self.y[idx]) for idx in batches)


def _train_step(net: nn.Module, opt, loss_fn, xb, yb, precision: str, device) -> torch.Tensor:
    """Forward (in ``precision``), loss on float32 logits, backward, optimiser step; the loss."""
    with precision_context(precision, device):
        logits = net(xb)
    batch_loss = loss_fn(logits.float(), yb)
    opt.zero_grad(set_to_none=True)
    batch_loss.backward()
    opt.step()
    return batch_loss.detach()


def _train_epoch(
    model: nn.Module, net: nn.Module, opt, loss_fn, batches: _Batches, precision: str, device, bar
) -> float:
    """One shuffled pass over the training rows; the mean training loss over all ranks' rows."""
    model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    for xb, yb in batches.epoch(device):
        loss_sum += _train_step(net, opt, loss_fn, xb, yb, precision, device) * len(yb)
        if bar is not None:
            bar.update(1)
    if batches.world > 1:
        distributed.end_of_epoch(loss_sum, model, device)
    return float(loss_sum) / (batches.n_local * batches.world)


def _check_finite(train_loss: float, epoch: int, opt) -> None:
    if not math.isfinite(train_loss):
        raise FloatingPointError(
            f"training loss became {train_loss} in epoch {epoch}; lower lr (now "
            f"{opt.param_groups[0]['lr']:g}) or check the inputs"
        )


def _embedding_grads(model: nn.Module, optimizer, world: int) -> contextlib.AbstractContextManager:
    """The gradients ``fit`` trains the embedding tables with: sparse with :class:`LazyAdam`
    (its fast path), dense where the process group cannot average sparse ones (NCCL), the
    tables' own setting with any other optimiser; the tables' setting comes back afterwards."""
    if world > 1 and not distributed.sparse_allreduce():
        return sparse_embedding_grads(model, False)
    if optimizer is None or isinstance(optimizer, LazyAdam):
        return sparse_embedding_grads(model, True)
    return contextlib.nullcontext()


def _check_patience(patience: int) -> None:
    if not patience >= 0:  # NaN too; float("inf") stays allowed (never stop early)
        raise ValueError(
            f"patience must be >= 0 (epochs without improvement before stopping), got {patience}"
        )


def _check_min_delta(min_delta: float) -> None:
    if not min_delta >= 0:  # NaN too
        raise ValueError(f"min_delta must be >= 0, got {min_delta}")


def _check_fit_args(
    epochs: int, batch_size: int, lr_decay: float, patience: int, max_grad_norm: float | None
) -> None:
    _check_patience(patience)
    if max_grad_norm is not None and not max_grad_norm > 0:
        raise ValueError(f"max_grad_norm must be positive or None, got {max_grad_norm}")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if not 0 < lr_decay <= 1:
        raise ValueError(f"lr_decay must be in (0, 1], got {lr_decay}")


def _validate(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    precision: str,
    rank: int,
    world: int,
    device: torch.device,
    batch_size: int,
    epoch: int,
) -> dict[str, float]:
    """Validation AUC and logloss from the logits (gathered over all ranks under torchrun);
    ``FloatingPointError`` when a logit is NaN (a diverged model: its AUC would be NaN)."""
    predict = functools.partial(predict_logits, model, batch_size=batch_size, precision=precision)
    if world > 1:
        logits = distributed.gather_predictions(predict, x, rank, world, device)
    else:
        logits = predict(x)
    nan = torch.isnan(logits)
    if nan.any():
        raise FloatingPointError(
            f"validation logits are NaN in epoch {epoch} ({int(nan.sum())} of {len(nan)} rows, "
            f"first at row {int(nan.nonzero()[0, 0])}): the model diverged; lower lr or check "
            "the inputs"
        )
    return {f"val_{k}": v for k, v in _scores(y, logits).items()}


def _finish(model: nn.Module, stop: EarlyStopping, hist: History, bar) -> None:
    """The end of ``fit``, however it ends: the best epoch into ``hist``, its weights restored,
    the model in eval mode."""
    _close_bar(bar)
    hist.best_epoch, hist.best_val_auc = stop.best_epoch, stop.best_metric
    stop.restore()
    model.eval()


@contextlib.contextmanager
def _finish_when_interrupted(model: nn.Module, stop: EarlyStopping, hist: History, bar):
    """Ctrl-C (``KeyboardInterrupt``) or a diverged model (``FloatingPointError``) inside
    ``fit``: :func:`_finish` first (best weights restored, eval mode), then the exception goes
    on with the History so far attached as ``exc.history``."""
    try:
        yield
    except (KeyboardInterrupt, FloatingPointError) as exc:
        hist.interrupted = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        _finish(model, stop, hist, bar)
        exc.history = hist
        raise


# --------------------------------------------------------------------------- fit


def _checked_splits(
    model: nn.Module, train: Split, val: Split | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Both splits unpacked and checked once, whole, before the first step (labels 0/1 with
    both classes, indices in range): the batch loops of ``fit`` skip the per-batch check."""
    x_tr, y_tr = _unpack(train, "train")
    if len(x_tr) == 0:
        raise ValueError("train is empty")
    x_va, y_va = _unpack(val, "val") if val is not None else (None, None)
    if x_va is not None and len(x_va) == 0:
        raise ValueError("val is empty: pass val=None to train without validation (no early stop)")
    _check_labels(y_tr, "train")
    _check_x(model, x_tr, "train.x")
    if x_va is not None:
        _check_labels(y_va, "val")
        _check_x(model, x_va, "val.x")
    return x_tr, y_tr, x_va, y_va


def fit(
    model: nn.Module,
    train: Split,
    val: Split | None = None,
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
    min_delta: float = 1e-6,
    max_grad_norm: float | None = None,
    seed: int = 0,
    progress: bool | None = None,
    verbose: bool = False,
    optimizer: torch.optim.Optimizer | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
) -> History:
    """Train ``model`` on ``train`` and early-stop on ``val`` (each a ``CTRSplit`` or ``(x, y)``).

    Each epoch: shuffle the training rows (a ``torch.randperm`` from a generator seeded with
    ``seed``), take index batches of ``batch_size`` rows from the in-memory tensors, minimise
    the loss with :func:`make_optimizer` (``lr``, ``emb_reg``, ``net_reg``, ``emb_l2``: the
    embedding L2 over the whole table, as BARS, or over the rows used), then compute the
    validation AUC and logloss. An epoch whose AUC does not beat the best so far by more than
    ``min_delta`` (1e-6, FuxiCTR's) multiplies the learning rate by ``lr_decay`` (not below
    ``min_lr``); ``patience`` such epochs in a row stop training (:class:`EarlyStopping`;
    ``patience=0`` means the same as 1: stop at the first epoch without improvement, keep going
    while every epoch improves; negative raises ``ValueError``). The best epoch's weights are
    restored at the end and the model is left in eval mode.

    ``max_grad_norm``: clip the gradient norm at every step, as FuxiCTR does (BARS: 10.0, which
    ``python -m ctr_helpers.bench`` passes); the norm covers the L2 terms too, as when they are
    part of the loss (:class:`LazyAdam`). ``None`` (the default here): no clipping. With your own
    ``optimizer`` it raises ``ValueError``: clip in the optimiser
    (``LazyAdam(max_grad_norm=...)``).

    With :class:`LazyAdam` (``make_optimizer``'s, or your own as ``optimizer``) the embedding
    tables train with sparse gradients (:func:`sparse_embedding_grads`), their setting restored
    afterwards; with any other ``optimizer`` they keep the model's own (dense by default).
    ``train`` and ``val`` are checked once, whole, before the first step
    (:meth:`CTRModel.check_input`: dtype, number of fields, every index in its field's range;
    the error names the split), and not again per batch.

    ``loss``: ``"bce"`` (binary cross-entropy on logits; ``pos_weight`` multiplies the loss of
    clicks) or ``"focal"`` (:func:`focal_loss` with ``focal_gamma`` and ``pos_weight``).
    ``seed`` seeds Python, NumPy and PyTorch at the start (dropout masks, shuffling), so two
    calls from the same initial weights give the same result. ``progress``: ``None`` shows one
    tqdm bar per fit when stderr is a terminal or in a notebook, unless ``TQDM_DISABLE`` is set;
    ``verbose`` also prints one line per epoch. ``optimizer``: your own instead of
    :func:`make_optimizer`. ``precision``: ``"fp32"`` (the default, on every machine) or
    ``"bf16"`` (bfloat16 mixed precision for the matrix products, opt-in; ``None`` reads
    ``CTR_PRECISION``); see :func:`resolve_precision`. Forward passes run under it; the loss,
    the logit, the FM/FFM pair terms, the float32 weights and the optimiser do not change.
    With ``CTR_MALLOC_TUNING=1`` ``fit`` first calls :func:`keep_freed_memory` (opt-in: it changes
    glibc's malloc for the whole process).

    Edge cases: a final batch of a single row joins the batch before it (batch norm cannot
    train on one row; with 4,097 rows at ``batch_size=4096`` the epoch is one batch of 4,097),
    any other final batch is left as it is. A ``train`` or ``val`` split with a single class
    raises ``ValueError`` (no AUC to stop on), NaN validation logits raise
    ``FloatingPointError``, like a non-finite training loss. Validation runs in batches of
    :func:`eval_batch_size` rows (the largest intermediate within ``EVAL_MEMORY_BUDGET``) and its
    AUC and logloss are computed from the logits (:func:`evaluate`).

    Interrupted (Ctrl-C, ``KeyboardInterrupt``) or diverged (``FloatingPointError``): the best
    finished epoch's weights are restored and the model left in eval mode before the exception
    propagates, with the History so far as ``exc.history`` (``hist.interrupted`` says why). In a
    notebook, after pressing stop: ``hist = sys.last_value.history``, or wrap the call in
    ``try: ... except KeyboardInterrupt as e: hist = e.history``. Without validation data
    there is no best epoch to go back to and the weights stay as they were when interrupted.

    Distributed: when a process group exists (or ``torchrun`` started this process with
    ``WORLD_SIZE > 1``; ``fit`` then creates it, gloo on CPU and NCCL with GPUs), the model is
    wrapped in ``DistributedDataParallel``. All ranks draw the same permutation; rank ``r`` takes
    every ``world``-th row of it, so each rank sees ``N // world`` rows per epoch and
    ``batch_size // world`` rows per step (the global batch stays ``batch_size``). Gradients are
    averaged (gloo also averages sparse embedding gradients; NCCL cannot, so on NCCL the tables
    train with dense gradients, and get their own setting back afterwards). Validation
    predictions are gathered from all ranks, so every rank takes the same early-stopping
    decisions and ends with the same weights; only rank 0 shows progress.
    """
    _check_fit_args(epochs, batch_size, lr_decay, patience, max_grad_norm)
    _check_min_delta(min_delta)
    if optimizer is not None and max_grad_norm is not None:
        raise ValueError(
            "max_grad_norm clips inside fit's own optimiser; with your own optimizer clip there "
            "(LazyAdam(..., max_grad_norm=...)) and leave fit's max_grad_norm=None"
        )
    x_tr, y_tr, x_va, y_va = _checked_splits(model, train, val)

    if malloc_tuning_requested():  # opt-in (CTR_MALLOC_TUNING=1), see keep_freed_memory
        keep_freed_memory()
    rank, world, dist_device = distributed.setup()
    seed_everything(seed + rank)  # dropout differs per rank; the shuffle below does not
    device = dist_device if dist_device is not None else device
    device = torch.device(device) if device is not None else _device_of(model)
    model.to(device)
    x_tr, y_tr = x_tr.to(device), y_tr.to(device)
    precision = resolve_precision(precision, device)
    if not has_matmuls(model):
        precision = "fp32"  # nothing for autocast to change (see precision_context)
    opt = (
        optimizer
        if optimizer is not None
        else make_optimizer(model, lr, emb_reg, net_reg, emb_l2, max_grad_norm=max_grad_norm)
    )
    loss_fn = _make_loss(loss, pos_weight, focal_gamma)
    batches = _Batches(x_tr, y_tr, batch_size, seed, rank, world)
    if batches.n_local < 2:
        raise ValueError(
            f"train has {len(x_tr)} row(s) for {world} process(es): fit needs at least 2 rows "
            "per process (batch norm cannot train on a batch of one)"
        )
    with _inputs_validated(model):  # x_va was checked above; the probe pass need not
        eval_rows = eval_batch_size(model, x_va, precision) if x_va is not None else None
    show = rank == 0 and _progress_enabled(progress)
    bar = _progress_bar(show, epochs * batches.n_batches, type(model).__name__)

    hist = History(precision=precision)
    stop = EarlyStopping(
        model, opt, patience=patience, lr_decay=lr_decay, min_lr=min_lr, min_delta=min_delta
    )
    with (
        _embedding_grads(model, optimizer, world),
        _inputs_validated(model),
        _finish_when_interrupted(model, stop, hist, bar),
    ):
        net = distributed.wrap(model, device) if world > 1 else model
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            train_loss = _train_epoch(model, net, opt, loss_fn, batches, precision, device, bar)
            _check_finite(train_loss, epoch, opt)
            row = dict(epoch=epoch, train_loss=train_loss, val_auc=float("nan"))
            row.update(val_logloss=float("nan"), lr=opt.param_groups[0]["lr"])
            if x_va is not None:
                row.update(
                    _validate(model, x_va, y_va, precision, rank, world, device, eval_rows, epoch)
                )
            row["seconds"] = time.perf_counter() - t0
            hist.epochs.append(row)
            stop.step(epoch, row["val_auc"] if x_va is not None else None)
            _report(row, bar, verbose and rank == 0)
            if stop.should_stop:
                hist.stopped_early = epoch < epochs
                break

    _finish(model, stop, hist, bar)
    return hist


# --------------------------------------------------------------------------- demo entry point


def _demo_data(n: int, n_fields: int, vocab: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Synthetic clicks with known pairwise structure: logit = sum of per-value effects + one
    interaction between fields 0 and 1."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, (n, n_fields), generator=g)
    w = torch.randn(n_fields, vocab, generator=g)
    inter = torch.randn(vocab, vocab, generator=g) * 2
    logit = w.gather(1, x.T).sum(0) * 0.5 + inter[x[:, 0], x[:, 1]] - 1.0
    y = torch.bernoulli(torch.sigmoid(logit), generator=g)
    return x, y


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
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
    return args


def _main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
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
    rank, world, _ = distributed.setup()
    test = evaluate(model, (x[n_va:], y[n_va:]))
    if rank == 0:
        summary = dict(world_size=world, best_epoch=hist.best_epoch, test=test)
        print(json.dumps(summary))
        if args.out:
            tmp = f"{args.out}.tmp"
            with open(tmp, "w") as f:
                json.dump(summary, f, indent=2)
            os.replace(tmp, args.out)
    distributed.teardown(world)


if __name__ == "__main__":
    _main()
