"""The optimiser ``fit`` uses: :class:`LazyAdam` (Adam, row-wise on sparse embedding tables),
:func:`make_optimizer` (its two BARS parameter groups) and :func:`sparse_embedding_grads` (the
sparse gradients ``fit`` trains with). :mod:`ctr_helpers.train` re-exports all three.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["LazyAdam", "is_embedding", "make_optimizer", "sparse_embedding_grads"]


class LazyAdam(torch.optim.Optimizer):
    """Adam for CTR models: plain Adam on dense weights, row-wise Adam on sparse embedding tables.

    For a parameter whose gradient is dense this is ordinary Adam with coupled L2 weight decay,
    ``g <- g + weight_decay * w`` (the same as ``torch.optim.Adam(weight_decay=...)``, and the
    gradient of ``(weight_decay / 2) * ||w||^2``). That includes an embedding table built with
    dense gradients (the models' default) in a group with ``l2_scope="table"``: the L2 covers the
    whole table, as the sparse path below. (A dense gradient has every row, so it is also what
    ``l2_scope="rows"`` does with one.) In a group marked ``tables=True`` (the embedding group of
    :func:`make_optimizer`), ``l2_scope="rows"`` with ``weight_decay > 0`` needs sparse gradients,
    which say which rows a batch used, and raises a ``ValueError`` on a dense one rather than
    regularise the whole table; train inside :func:`sparse_embedding_grads`.

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
      size. This is a *weaker* regulariser (rare rows are pulled less often).

    With ``weight_decay = 0`` both scopes take the lazy row-wise step (there is no penalty to
    spread over the table).

    ``max_grad_norm`` (``None``: off) clips the step's gradient as FuxiCTR does every batch
    (``nn.utils.clip_grad_norm_`` after the regulariser joined the loss): the norm is taken over
    the gradients Adam steps on, the data gradient *plus* each group's L2 term (``weight_decay *
    w``, over the whole table or the rows used, as above), all parameters of the optimiser
    together; when it exceeds ``max_grad_norm`` all of them are scaled by ``max_grad_norm /
    (norm + 1e-6)`` (torch's formula). :attr:`last_grad_norm` keeps the last norm (a tensor).

    Adam: Kingma & Ba, ICLR 2015. For row ``r`` at step ``t``: ``m <- b1 m + (1 - b1) g``,
    ``v <- b2 v + (1 - b2) g^2``, ``w <- w - lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """

    def __init__(
        self,
        params: Iterable,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        l2_scope: str = "table",
        max_grad_norm: float | None = None,
    ) -> None:
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ValueError(f"max_grad_norm must be positive or None, got {max_grad_norm}")
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
        self.max_grad_norm = max_grad_norm
        self.last_grad_norm: torch.Tensor | None = None

    def _state(self, p: torch.Tensor) -> dict:
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return state

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """One Adam step on every parameter with a gradient; returns ``closure()`` if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._check_gradients()
        self._rows_this_step = []  # (height, indices, rows, inverse) of _unique_rows, this step
        scale = None
        if self.max_grad_norm is not None:
            self.last_grad_norm = self._grad_norm()
            # torch.nn.utils.clip_grad_norm_'s factor; 1.0 exactly when the norm is within bounds
            scale = (self.max_grad_norm / (self.last_grad_norm + 1e-6)).clamp(max=1.0)
        for group in self.param_groups:
            self._group_step(group, scale)
        self._rows_this_step = []  # do not hold this step's index tensors until the next one
        return loss

    def _grad_norm(self) -> torch.Tensor:
        """The 2-norm of the gradients this step will use (data gradient + L2 term), over all
        parameters: what ``clip_grad_norm_`` measures when the L2 is part of the loss."""
        squares = []
        for group in self.param_groups:
            wd, by_table = group["weight_decay"], group["l2_scope"] == "table"
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p.grad.is_sparse:
                    g = p.grad.add(p, alpha=wd) if wd else p.grad
                elif wd and by_table:  # every row has an L2 gradient
                    g = self._dense_grad(p).add_(p, alpha=wd)
                else:  # the rows used, duplicates summed, each with its L2 term
                    rows, inverse = self._unique_rows(p, p.grad._indices()[0])
                    g = self._add_rows(
                        p.new_zeros((len(rows), *p.shape[1:])), inverse, p.grad._values()
                    )
                    if wd:
                        g.add_(p.index_select(0, rows), alpha=wd)
                squares.append(torch.linalg.vector_norm(g).square())
        if not squares:
            return torch.zeros(())
        return torch.stack(squares).sum().sqrt()

    def _check_gradients(self) -> None:
        """Before any parameter moves: a ``tables`` group with row-wise L2 needs sparse gradients."""
        for group in self.param_groups:
            if not (group.get("tables") and group["l2_scope"] == "rows" and group["weight_decay"]):
                continue
            for p in group["params"]:
                if p.grad is not None and not p.grad.is_sparse:
                    raise ValueError(
                        f"LazyAdam: the {group.get('name', 'tables')!r} group has "
                        f"l2_scope='rows' (L2 on the rows each batch uses), which needs sparse "
                        f"gradients to know those rows, but its table of shape "
                        f"{tuple(p.shape)} got a dense gradient; train inside "
                        f"sparse_embedding_grads(model), build the model with sparse=True, or "
                        f"use l2_scope='table' (emb_l2='table' in make_optimizer)"
                    )

    def _group_step(self, group: dict, scale: torch.Tensor | None = None) -> None:
        """Sparse tables step one by one as they come; the dense tensors in one batched step.
        ``scale``: the clipping factor of every gradient (L2 term included), or None."""
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
                self._sparse_step(p, state, lr, b1, b2, eps, wd, bc1, bc2, scale)
            else:
                dense_p.append(p)
                dense_g.append(grad)
                dense_m.append(state["exp_avg"])
                dense_v.append(state["exp_avg_sq"])
                c1.append(-lr / bc1)
                c2.append(math.sqrt(bc2))
        if dense_p:
            self._dense_step(dense_p, dense_g, dense_m, dense_v, c1, c2, b1, b2, eps, wd, scale)

    @staticmethod
    def _dense_step(ps, gs, ms, vs, c1, c2, b1, b2, eps, wd, scale=None):
        # Plain Adam on a list of tensors at once (the _foreach kernels torch.optim.Adam uses).
        if wd:
            gs = torch._foreach_add(gs, ps, alpha=wd)
        if scale is not None:
            gs = torch._foreach_mul(gs, scale)
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
        Width-1 rows (the linear term) go through a flat scatter, faster than the row-wise kernel
        on ``[V, 1]``."""
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
        # pos[idx], and cheaper than the advanced-indexing kernels
        mask.index_fill_(0, idx, True)
        rows = mask.nonzero().squeeze(1)
        mask.index_fill_(0, rows, False)
        pos.index_copy_(0, rows, torch.arange(len(rows), device=p.device))
        inverse = pos.index_select(0, idx)
        cache.append((p.shape[0], idx, rows, inverse))
        return rows, inverse

    def _sparse_step(self, p, state, lr, b1, b2, eps, wd, bc1, bc2, scale=None):
        grad = p.grad
        m, v = state["exp_avg"], state["exp_avg_sq"]
        # A width-1 table (the linear term) is updated through flat [V] views: 1-D gathers and
        # scatters are faster than the row-wise kernels on [V, 1].
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
        if scale is not None:
            g = g * scale
        m_rows = m.index_select(0, rows).lerp_(g, 1 - b1)
        v_rows = v.index_select(0, rows).mul_(b2).addcmul_(g, g, value=1 - b2)
        m.index_copy_(0, rows, m_rows)
        v.index_copy_(0, rows, v_rows)
        step = m_rows.div_(v_rows.sqrt_().div_(math.sqrt(bc2)).add_(eps))
        if flat:
            p.index_add_(0, rows, step, alpha=-lr / bc1)
        else:
            # ``rows`` are distinct, so read, update and write back the same rows: the same
            # numbers as ``index_add_``, which is slower on a [V, D] table
            p.index_copy_(0, rows, p_rows.add_(step, alpha=-lr / bc1))


def is_embedding(module: nn.Module) -> bool:
    """Whether ``module`` is an embedding table (``nn.Embedding`` or ``nn.EmbeddingBag``)."""
    return isinstance(module, nn.Embedding | nn.EmbeddingBag)


@contextmanager
def sparse_embedding_grads(model: nn.Module, sparse: bool = True) -> Iterator[nn.Module]:
    """Inside the block every embedding table of ``model`` gives sparse gradients (dense ones
    with ``sparse=False``); each table's own setting comes back on exit, also on an exception.

    Sparse gradients are :class:`LazyAdam`'s fast path: the backward writes only the rows a
    batch used, and with no L2 (or ``l2_scope="rows"``) the step touches only those rows. The
    models are built with dense gradients so that any ``torch.optim`` optimiser works;
    ``train.fit`` trains inside this block when it uses LazyAdam. For your own loop with
    :func:`make_optimizer`, the same numbers as ``fit``::

        opt = make_optimizer(model, lr=1e-3)
        with sparse_embedding_grads(model):
            for xb, yb in batches: ...

    >>> model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 1))
    >>> with sparse_embedding_grads(model):
    ...     model[0].sparse
    True
    >>> model[0].sparse
    False
    """
    tables = [m for m in model.modules() if is_embedding(m)]
    before = [m.sparse for m in tables]
    for m in tables:
        m.sparse = bool(sparse)
    try:
        yield model
    finally:
        for m, was in zip(tables, before, strict=True):
            m.sparse = was


def make_optimizer(
    model: nn.Module,
    lr: float = 1e-3,
    emb_reg: float = 0.0,
    net_reg: float = 0.0,
    emb_l2: str = "table",
    max_grad_norm: float | None = None,
) -> LazyAdam:
    """One :class:`LazyAdam` with two parameter groups, as BARS regularises:

    - every embedding table (``nn.Embedding``/``nn.EmbeddingBag`` weights, including the width-1
      table of the linear term): L2 ``emb_reg`` over the whole table (``emb_l2="table"``, as
      BARS) or over the rows each batch uses (``emb_l2="rows"``, lazy updates whose cost does
      not grow with the table; see :class:`LazyAdam`);
    - every other trainable parameter (MLP, cross, attention weights and biases...): Adam with
      coupled L2 ``net_reg``.

    ``max_grad_norm``: clip the norm of the whole regularised gradient at every step, as
    FuxiCTR (BARS: 10); ``None`` does not clip (see :class:`LazyAdam`).

    The optimiser works with dense gradients (the models' default: plain Adam, the L2 over the
    whole table) and with sparse ones; ``fit`` trains inside :func:`sparse_embedding_grads`,
    where the embedding step is row-wise (lazy) when ``emb_reg = 0`` or ``emb_l2="rows"``. Do
    the same in your own loop for ``fit``'s numbers and speed; ``emb_l2="rows"`` with
    ``emb_reg > 0`` needs it.

    >>> model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 1))
    >>> [(g["name"], g["weight_decay"]) for g in make_optimizer(model, emb_reg=0.01).param_groups]
    [('embedding', 0.01), ('network', 0.0)]
    """
    if emb_l2 not in ("table", "rows"):
        raise ValueError(f"emb_l2 must be 'table' or 'rows', got {emb_l2!r}")
    emb_params, seen = [], set()
    for module in model.modules():
        if is_embedding(module) and module.weight.requires_grad:
            if id(module.weight) not in seen:
                seen.add(id(module.weight))
                emb_params.append(module.weight)
    net_params = [p for p in model.parameters() if p.requires_grad and id(p) not in seen]
    groups = [
        dict(params=ps, weight_decay=wd, name=name, l2_scope=scope, tables=tables)
        for ps, wd, name, scope, tables in (
            (emb_params, emb_reg, "embedding", emb_l2, True),
            (net_params, net_reg, "network", "table", False),
        )
        if ps
    ]
    if not groups:
        raise ValueError("the model has no trainable parameters")
    return LazyAdam(groups, lr=lr, max_grad_norm=max_grad_norm)
