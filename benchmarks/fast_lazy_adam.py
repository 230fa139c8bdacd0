"""Prototype: the lazy Adam of ``ctr_helpers.train`` with a sort-free row de-duplication.

``LazyAdam._sparse_step`` finds the rows a batch used with ``torch.unique`` (a sort of the
``B * F`` gradient indices: O(n log n), the largest cost of an LR/FM step). Rows live in a known
range ``0 .. V - 1``, so a reusable boolean mask over the table's rows gives the same sorted
unique rows and the inverse map in O(n) (set, ``nonzero``, a position table, reset). Same maths,
same results; only the de-duplication changes. Proposed for ``train.py`` (not owned here).
"""

from __future__ import annotations

import math

import torch

from ctr_helpers.train import LazyAdam, make_optimizer


class FastLazyAdam(LazyAdam):
    """:class:`ctr_helpers.train.LazyAdam` with O(n) row de-duplication for sparse gradients."""

    def _unique_rows(self, p: torch.Tensor, idx: torch.Tensor):
        scratch = self.__dict__.setdefault("_scratch", {})  # not in state_dict()
        if p not in scratch:  # one byte + one long per row, allocated once
            scratch[p] = (
                torch.zeros(p.shape[0], dtype=torch.bool, device=p.device),
                torch.empty(p.shape[0], dtype=torch.long, device=p.device),
            )
        mask, pos = scratch[p]
        mask[idx] = True
        rows = mask.nonzero().squeeze(1)  # sorted, unique
        mask[rows] = False  # leave the mask clear for the next step
        pos[rows] = torch.arange(len(rows), device=p.device)
        return rows, pos[idx]

    @torch.no_grad()
    def _sparse_step(self, p, state, lr, b1, b2, eps, wd, bc1, bc2):
        grad = p.grad
        vals = grad._values()
        rows, inverse = self._unique_rows(p, grad._indices()[0])
        g = vals.new_zeros((len(rows), *vals.shape[1:])).index_add_(0, inverse, vals)
        if wd:
            g = g.add(p.index_select(0, rows), alpha=wd)
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m_rows = m.index_select(0, rows).lerp_(g, 1 - b1)
        v_rows = v.index_select(0, rows).mul_(b2).addcmul_(g, g, value=1 - b2)
        m.index_copy_(0, rows, m_rows)
        v.index_copy_(0, rows, v_rows)
        step = m_rows.div_(v_rows.sqrt_().div_(math.sqrt(bc2)).add_(eps))
        p.index_add_(0, rows, step, alpha=-lr / bc1)


def make_fast_optimizer(model, lr=1e-3, emb_reg=0.0, net_reg=0.0) -> FastLazyAdam:
    """``train.make_optimizer``'s parameter groups, stepped by :class:`FastLazyAdam`."""
    base = make_optimizer(model, lr=lr, emb_reg=emb_reg, net_reg=net_reg)
    keep = ("params", "weight_decay", "name")
    return FastLazyAdam([{k: g[k] for k in keep} for g in base.param_groups], lr=lr)
