"""Synthetic click data with known ground truth: the true logit of every row is returned.

Each generator plants one effect a model family can or cannot learn: :func:`make_xor` (a cross
of two fields, invisible to LR), :func:`make_pairwise` (low-rank pairs, some never seen in
train: FM vs cross features), :func:`make_third_order` (a pure three-way effect, invisible to
any pairwise model), :func:`make_planted_crosses` (pure crosses of chosen fields and orders,
random or low-rank), :func:`make_drift` (time drift: time-ordered vs random splits), :func:`make_field_importance`
(informative fields among pure-noise ones: learned field importance). All take
``seed`` and return a :class:`CTRDataset` whose ``info`` holds ``p_true`` / ``logit_true`` per
split.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .containers import CTRDataset, CTRSplit
from .splits import _SPLIT_NAMES, _split_indices

__all__ = [
    "make_xor",
    "make_pairwise",
    "make_third_order",
    "make_planted_crosses",
    "make_drift",
    "make_field_importance",
]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _bias_for_rate(logit: np.ndarray, positive_rate: float | None) -> float:
    """The bias b with mean(sigmoid(logit + b)) = positive_rate (0 when positive_rate is None)."""
    if positive_rate is None:
        return 0.0
    if not 0.0 < positive_rate < 1.0:
        raise ValueError(f"positive_rate must be strictly between 0 and 1, got {positive_rate}")
    lo, hi = -30.0, 30.0
    for _ in range(60):  # bisection: the mean is increasing in b
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _sigmoid(logit + mid).mean() < positive_rate else (lo, mid)
    return (lo + hi) / 2


def _finish(
    name: str,
    x: np.ndarray,
    logit: np.ndarray,
    rng: np.random.Generator,
    parts: Sequence[np.ndarray],
    field_names: list[str],
    field_dims: list[int],
    info: dict[str, Any],
) -> CTRDataset:
    """Draw labels from the true logits and package rows ``parts`` as train / val / test."""
    p = _sigmoid(logit)
    y = (rng.random(len(p)) < p).astype(np.float32)
    info = {**info, "p_true": {}, "logit_true": {}}
    splits = []
    for split_name, idx in zip(_SPLIT_NAMES, parts, strict=True):
        splits.append(CTRSplit(torch.from_numpy(x[idx]), torch.from_numpy(y[idx])))
        info["p_true"][split_name] = p[idx]
        info["logit_true"][split_name] = logit[idx]
    return CTRDataset(*splits, field_names, field_dims, name, info=info)


def _purify(table: np.ndarray) -> np.ndarray:
    """Remove every lower-order part of a table (ANOVA): all its marginal means become 0.

    Under independent uniform fields the result carries a pure interaction of order
    ``table.ndim``: averaging it over any one field gives 0, so no smaller set of fields sees it.
    """
    pure = table.astype(np.float64)
    for axis in range(table.ndim):
        pure = pure - pure.mean(axis=axis, keepdims=True)
    return pure


def make_xor(
    n: int = 20_000,
    seed: int = 0,
    *,
    strength: float = 4.0,
    positive_rate: float | None = None,
    n_noise_fields: int = 0,
    noise_cardinality: int = 10,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> CTRDataset:
    """XOR clicks over two fields: young users click action films, old users click comedies.

    Fields ``age`` (0 young, 1 old) and ``genre`` (0 action, 1 comedy), uniform and independent,
    plus ``n_noise_fields`` irrelevant fields. True logit ``b + strength/2 * (+1 if age == genre
    else -1)``: each field alone carries no signal (LR's AUC ~0.5) while the cross age x genre
    carries it all. ``positive_rate`` sets b (None: b = 0, rate 0.5).
    ``info``: ``prob_table`` [2, 2] (click probability by age, genre), ``p_true`` /
    ``logit_true`` per split, ``value_names``.

    >>> ds = make_xor(n=1_000, seed=0)
    >>> ds.field_names, ds.field_dims, [len(s) for s in (ds.train, ds.val, ds.test)]
    (['age', 'genre'], [2, 2], [800, 100, 100])
    >>> ds.info["prob_table"].round(3)  # rows: young, old; columns: action, comedy
    array([[0.881, 0.119],
           [0.119, 0.881]])
    """
    rng = np.random.default_rng(seed)
    cols = [rng.integers(0, 2, n), rng.integers(0, 2, n)]
    cols += [rng.integers(0, noise_cardinality, n) for _ in range(n_noise_fields)]
    x = np.stack(cols, axis=1).astype(np.int64)
    effect = strength / 2 * np.where(x[:, 0] == x[:, 1], 1.0, -1.0)
    bias = _bias_for_rate(effect, positive_rate)
    names = ["age", "genre"] + [f"noise{i}" for i in range(n_noise_fields)]
    dims = [2, 2] + [noise_cardinality] * n_noise_fields
    table = _sigmoid(bias + strength / 2 * np.array([[1.0, -1.0], [-1.0, 1.0]]))
    info = {
        "bias": bias,
        "prob_table": table,
        "value_names": {"age": ["young", "old"], "genre": ["action", "comedy"]},
    }
    parts = _split_indices(n, fractions, seed=seed)
    return _finish("xor", x, bias + effect, rng, parts, names, dims, info)


def make_pairwise(
    n: int = 50_000,
    seed: int = 0,
    *,
    n_fields: int = 4,
    cardinality: int = 20,
    rank: int = 4,
    strength: float = 1.5,
    first_order: float = 0.5,
    unseen_fraction: float = 0.25,
    positive_rate: float | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> CTRDataset:
    """Planted low-rank pairwise effects, with value pairs of fields 0 and 1 never seen in train.

    True logit (an FM with known weights): ``b + sum_f w_f[x_f] + sum_{f<g} <V_f[x_f], V_g[x_g]>``
    with ``V`` of width ``rank`` scaled so the pairwise part has standard deviation ~``strength``.
    A random ``unseen_fraction`` of the (field0, field1) value pairs never occurs in train or
    val: rows drawn there get field 1 redrawn. Test rows come from the full distribution, and
    ``info["test_unseen"]`` (bool [N_test]) marks those with an unseen pair: a cross feature
    learned in train has no weight for them, an FM still scores them through ``V``.
    ``info``: ``unseen_pairs`` [K, 2], ``w``, ``V``, ``bias``, ``p_true`` / ``logit_true``.
    """
    if n_fields < 2:
        raise ValueError(f"make_pairwise needs n_fields >= 2, got {n_fields}")
    if not 0.0 <= unseen_fraction < 1.0:
        raise ValueError(f"unseen_fraction must be in [0, 1), got {unseen_fraction}")
    rng = np.random.default_rng(seed)
    c = cardinality
    n_pairs = len(list((f, g) for f in range(n_fields) for g in range(f + 1, n_fields)))
    w = rng.normal(0.0, first_order, (n_fields, c))
    V = rng.normal(0.0, np.sqrt(strength / np.sqrt(rank * n_pairs)), (n_fields, c, rank))
    unseen = _draw_unseen_pairs(rng, c, unseen_fraction)

    x = rng.integers(0, c, (n, n_fields))
    parts = _split_indices(n, fractions, seed=seed)
    seen_rows = np.concatenate(parts[:2])
    while True:  # redraw field 1 where a train/val row landed on an unseen pair
        redo = seen_rows[unseen[x[seen_rows, 0], x[seen_rows, 1]]]
        if len(redo) == 0:
            break
        x[redo, 1] = rng.integers(0, c, len(redo))

    effect = _fm_effect(x, w, V)
    bias = _bias_for_rate(effect, positive_rate)
    info = {
        "bias": bias,
        "w": w,
        "V": V,
        "unseen_pairs": np.argwhere(unseen),
        "test_unseen": unseen[x[parts[2], 0], x[parts[2], 1]],
    }
    names = [f"f{i}" for i in range(n_fields)]
    return _finish("pairwise", x, bias + effect, rng, parts, names, [c] * n_fields, info)


def _draw_unseen_pairs(rng: np.random.Generator, c: int, unseen_fraction: float) -> np.ndarray:
    """Bool ``[c, c]``: a random ``unseen_fraction`` of the (field0, field1) value pairs."""
    unseen = np.zeros((c, c), dtype=bool)
    n_unseen = int(round(unseen_fraction * c * c))
    unseen.flat[rng.choice(c * c, n_unseen, replace=False)] = True
    if n_unseen and (unseen.all(axis=1).any()):
        raise ValueError("unseen_fraction too large: a value of field 0 would have no partner")
    return unseen


def _fm_effect(x: np.ndarray, w: np.ndarray, V: np.ndarray) -> np.ndarray:
    """FM logit without bias, ``sum_f w_f[x_f] + sum_{f<g} <V_f[x_f], V_g[x_g]>``, per row.

    The pairwise sum by the square-of-sum trick: ``(|sum_f v_f|^2 - sum_f |v_f|^2) / 2``.
    """
    n_fields = x.shape[1]
    emb = V[np.arange(n_fields), x]  # [N, F, rank]
    s = emb.sum(axis=1)
    pair = 0.5 * ((s**2).sum(-1) - (emb**2).sum(axis=(1, 2)))
    return w[np.arange(n_fields), x].sum(axis=1) + pair


def make_third_order(
    n: int = 50_000,
    seed: int = 0,
    *,
    n_fields: int = 5,
    cardinality: int = 4,
    triple: tuple[int, int, int] = (0, 1, 2),
    strength: float = 2.0,
    first_order: float = 0.5,
    positive_rate: float | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> CTRDataset:
    """A planted pure third-order effect over three fields, invisible to any pairwise model.

    True logit ``b + sum_f w_f[x_f] + T[x_a, x_b, x_c]`` for ``(a, b, c) = triple``, where ``T``
    is a random table with every one- and two-field average removed (ANOVA purification) and
    scaled to standard deviation ``strength``. With uniform fields no pair of fields predicts
    any of it; models with explicit third-order terms (CIN, 2 cross layers, deep nets) can.
    With ``cardinality=2`` it is a three-way XOR (parity).
    ``info``: ``table`` (T), ``triple``, ``w``, ``bias``, ``p_true`` / ``logit_true``.
    """
    if len(set(triple)) != 3 or not all(0 <= f < n_fields for f in triple):
        raise ValueError(f"triple must name 3 distinct fields in 0..{n_fields - 1}, got {triple}")
    rng = np.random.default_rng(seed)
    c = cardinality
    table = _purify(rng.normal(size=(c, c, c)))
    table *= strength / table.std()
    w = rng.normal(0.0, first_order, (n_fields, c))
    x = rng.integers(0, c, (n, n_fields))
    a, b, d = triple
    effect = w[np.arange(n_fields), x].sum(axis=1) + table[x[:, a], x[:, b], x[:, d]]
    bias = _bias_for_rate(effect, positive_rate)
    info = {"bias": bias, "table": table, "triple": tuple(triple), "w": w}
    parts = _split_indices(n, fractions, seed=seed)
    names = [f"f{i}" for i in range(n_fields)]
    return _finish("third_order", x, bias + effect, rng, parts, names, [c] * n_fields, info)


def make_planted_crosses(
    n: int = 40_000,
    seed: int = 0,
    *,
    n_fields: int = 6,
    cardinality: int = 5,
    crosses: Sequence[Sequence[int]] = ((0, 1), (2, 4)),
    rank: int | None = None,
    strength: float = 2.0,
    first_order: float = 0.5,
    positive_rate: float | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> CTRDataset:
    """Pure crosses of known order over chosen fields, plus a small main effect per field.

    True logit ``b + sum_f w_f[x_f] + sum_c T_c[x_c]``, where each cross ``c`` in ``crosses`` (a
    tuple of 2 or more distinct fields, e.g. ``(0, 1)`` or ``(2, 3, 4)``) has a table ``T_c``
    with all its lower-order parts removed and scaled to standard deviation ``strength``: with
    uniform fields no smaller set of fields predicts any of it. ``rank=None``: each table is
    random (any pattern, up to ``cardinality ** order`` free values); ``rank=r``: a sum of ``r``
    products of per-field factors, ``T[v_1, .., v_k] = sum_r U_1[v_1, r] ... U_k[v_k, r]``, each
    factor centred so the cross stays pure. That is the vector-wise structure explicit cross
    layers (FM, CIN, cross networks) model, and it generalises to value combinations seen rarely
    or never in train. ``info``: ``crosses``, ``tables`` (one per cross, keyed by its fields),
    ``w``, ``bias``, ``p_true`` / ``logit_true`` per split.

    >>> ds = make_planted_crosses(n=1_000, seed=0, crosses=((0, 1), (2, 3, 4)), rank=2)
    >>> ds.field_dims, [ds.info["tables"][c].shape for c in ds.info["crosses"]]
    ([5, 5, 5, 5, 5, 5], [(5, 5), (5, 5, 5)])
    """
    crosses = [tuple(int(f) for f in c) for c in crosses]
    for c in crosses:
        if len(c) < 2 or len(set(c)) != len(c) or not all(0 <= f < n_fields for f in c):
            raise ValueError(
                f"each cross must name 2 or more distinct fields in 0..{n_fields - 1}, got {c}"
            )
    if rank is not None and rank < 1:
        raise ValueError(f"rank must be None or a positive int, got {rank}")
    rng = np.random.default_rng(seed)
    card = cardinality
    tables = {}
    for cross in crosses:
        if rank is None:
            table = _purify(rng.normal(size=(card,) * len(cross)))
        else:  # centred factors: averaging over any field's values gives 0, a pure cross
            factors = [u - u.mean(axis=0) for u in rng.normal(size=(len(cross), card, rank))]
            table = factors[0]  # [c, rank]
            for u in factors[1:]:
                table = table[..., None, :] * u  # one more field axis: [c, ..., c, rank]
            table = table.sum(axis=-1)
        tables[cross] = strength / table.std() * table
    w = rng.normal(0.0, first_order, (n_fields, card))
    x = rng.integers(0, card, (n, n_fields))
    effect = w[np.arange(n_fields), x].sum(axis=1)
    for cross, table in tables.items():
        effect = effect + table[tuple(x[:, f] for f in cross)]
    bias = _bias_for_rate(effect, positive_rate)
    info = {"bias": bias, "crosses": crosses, "tables": tables, "w": w}
    parts = _split_indices(n, fractions, seed=seed)
    names = [f"f{i}" for i in range(n_fields)]
    return _finish("planted_crosses", x, bias + effect, rng, parts, names, [card] * n_fields, info)


def make_drift(
    n: int = 60_000,
    seed: int = 0,
    *,
    split: str = "time",
    n_users: int = 100,
    n_items: int = 200,
    n_contexts: int = 4,
    drift: float = 1.0,
    rate_drift: float = 1.0,
    strength: float = 1.5,
    positive_rate: float | None = 0.2,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
) -> CTRDataset:
    """Clicks whose rate and item appeal drift over time, for time-ordered vs random splits.

    Each row has a time ``t`` in [0, 1) (rows are generated in time order) and fields user,
    item, context. True logit ``b + rate_drift * (t - 1/2) + u[user] + c[context] +
    strength * (A[item] cos(theta t) + B[item] sin(theta t))`` with ``theta = drift * pi / 2``:
    the overall click rate rises over time and each item's appeal rotates from ``A`` towards
    ``B`` (``drift=1``: the appeal at the end is uncorrelated with the appeal at the start).
    ``split="time"`` puts the earliest rows in train and the latest in test (what deployment
    sees); ``split="random"`` shuffles with ``seed`` (which flatters the model). Both use the
    same rows for the same seed. ``info``: ``time`` per split, ``p_true`` / ``logit_true``.
    """
    if split not in ("time", "random"):
        raise ValueError(f"split must be 'time' or 'random', got {split!r}")
    rng = np.random.default_rng(seed)
    t = np.sort(rng.random(n))
    x = np.stack(
        [rng.integers(0, n_users, n), rng.integers(0, n_items, n), rng.integers(0, n_contexts, n)],
        axis=1,
    )
    u = rng.normal(0.0, 0.5, n_users)
    ctx = rng.normal(0.0, 0.3, n_contexts)
    A, B = rng.normal(0.0, 1.0, (2, n_items))
    theta = drift * np.pi / 2
    item = strength * (A[x[:, 1]] * np.cos(theta * t) + B[x[:, 1]] * np.sin(theta * t))
    effect = rate_drift * (t - 0.5) + u[x[:, 0]] + ctx[x[:, 2]] + item
    bias = _bias_for_rate(effect, positive_rate)
    if split == "time":
        parts = _split_indices(n, fractions)
    else:
        parts = _split_indices(n, fractions, seed=seed)
    info = {
        "bias": bias,
        "split": split,
        "time": {s: t[idx] for s, idx in zip(_SPLIT_NAMES, parts, strict=True)},
    }
    # the split draws from its own generator, so rows and labels are the same for both choices
    names, dims = ["user", "item", "context"], [n_users, n_items, n_contexts]
    return _finish(f"drift_{split}", x, bias + effect, rng, parts, names, dims, info)


def make_field_importance(
    n: int = 40_000,
    seed: int = 0,
    *,
    n_informative: int = 3,
    n_noise: int = 5,
    cardinality: int = 20,
    strength: float = 1.5,
    positive_rate: float | None = None,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
) -> CTRDataset:
    """A few informative fields among pure-noise ones: ground truth for learned field importance.

    Fields ``signal0 ..`` (``n_informative``) then ``noise0 ..`` (``n_noise``), all uniform and
    independent over ``cardinality`` values. True logit ``b + sum_f w_f[x_f] + sum_{f<g}
    <V_f[x_f], V_g[x_g]>`` over the informative fields only (an FM with known weights, rank 4),
    scaled so the effect has standard deviation ``strength``; the noise fields never enter it, so
    a model that weighs fields by importance should turn them down (SENet gates, permutation
    importance). ``info``: ``informative`` (bool per field), ``w``, ``V``, ``bias``,
    ``p_true`` / ``logit_true`` per split.

    >>> ds = make_field_importance(n=1_000, n_informative=2, n_noise=3)
    >>> ds.field_names, ds.info["informative"].tolist()
    (['signal0', 'signal1', 'noise0', 'noise1', 'noise2'], [True, True, False, False, False])
    """
    if n_informative < 1 or n_noise < 0:
        raise ValueError(
            f"need n_informative >= 1 and n_noise >= 0, got {n_informative}, {n_noise}"
        )
    rng = np.random.default_rng(seed)
    n_fields, c = n_informative + n_noise, cardinality
    x = rng.integers(0, c, (n, n_fields))
    w = rng.normal(0.0, 1.0, (n_informative, c))
    V = rng.normal(0.0, 1.0, (n_informative, c, 4))
    effect = _fm_effect(x[:, :n_informative], w, V)
    scale = strength / effect.std()
    w, V, effect = w * scale, V * np.sqrt(scale), effect * scale  # pairs scale with V squared
    centre = -effect.mean()  # positive_rate=None: a rate near 1/2
    bias = centre + _bias_for_rate(effect + centre, positive_rate)
    names = [f"signal{i}" for i in range(n_informative)] + [f"noise{i}" for i in range(n_noise)]
    info = {"bias": bias, "informative": np.arange(n_fields) < n_informative, "w": w, "V": V}
    parts = _split_indices(n, fractions, seed=seed)
    return _finish("field_importance", x, bias + effect, rng, parts, names, [c] * n_fields, info)
