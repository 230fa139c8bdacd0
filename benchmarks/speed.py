"""Training and inference speed of every model, beside the peer libraries and the naive style.

Usage::

    python benchmarks/speed.py                      # both shapes, the 8 models the peers have
    python benchmarks/speed.py --shape frappe --models lr,fm,deepfm
    python benchmarks/speed.py --models all --repeats 3
    python benchmarks/speed.py --quick              # smoke run: small data, 1 timed pass
    python benchmarks/speed.py --torchfm            # also torchfm 0.7.0 in the same run
    python benchmarks/speed.py --no-bf16            # float32 only, also on a bf16 CPU

Configuration (the one the peer figures use):
embed 16, batch 4096, ``torch.set_num_threads(2)``, float32, MLP [400, 400, 400] without batch
norm (and without dropout), CIN [128, 128] with split-half (as torchfm and DeepCTR-Torch, the
faster peers, default to), 3 cross layers, AutoInt 3 layers x 2 heads with
attention dim 16, FiBiNet field-all bilinear, Adam 1e-3. Seeded synthetic data with Zipf-skewed
indices (200,000 rows). Median of ``--repeats`` timed passes after a warm-up.

- **train/s**: samples per second of ``forward + BCEWithLogits + backward + step`` with the
  package's fast path, as ``ctr_helpers.train.fit`` runs it: ``make_optimizer`` (lazy row-wise
  Adam on sparse embedding gradients, Adam on the dense weights), in float32 (``fit``'s default
  on every machine); the inputs are validated once per dataset, as ``fit`` does, not per batch.
- **infer/s**: samples per second of ``forward`` under ``torch.inference_mode()`` in eval mode,
  in float32 (as ``predict_logits`` runs it).
- **bf16** (only on a CPU with native bfloat16, AVX512-BF16 or AMX, and unless ``--no-bf16``):
  the same two numbers with ``precision="bf16"``, the opt-in mixed precision (matrix products
  in bfloat16 under ``precision_context``). LR, FM and FFM have no matrix product ("—").
  torchfm is always timed in float32, so its ratios are float32 vs float32.
- **malloc**: the script opts in to ``keep_freed_memory()`` explicitly (glibc keeps freed
  blocks below 1 GiB for reuse instead of page-faulting them back every step): it measures the
  fast path. ``fit`` does not do this unless ``CTR_MALLOC_TUNING=1``. It is process-wide, so the
  peer library timed in the same run gets it too; ``CTR_MALLOC_TUNING=0`` turns it off for both.
- **naive**: the same model in the style tutorials use (one ``nn.Embedding`` per field and
  ``torch.stack``, a dense one-hot ``[B, V]`` linear term, Python loops over field pairs, dense
  ``torch.optim.Adam``). At Criteo shape the one-hot matrix is 4 MB per row, so the naive style
  runs at ``--naive-batch`` (512 by default, ~2 GB for the one-hot) and says so.
- **matmul ceiling**: float32 GFLOP/s of ``[4096, 400] @ [400, 400]`` on these threads.
  ``est. FLOP/sample`` counts the multiply-adds of the dense layers (x2 FLOP each; a training
  step costs ~3x the forward pass), and ``% ceiling`` = train/s x FLOP/sample / ceiling.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ctr_helpers.models import get_model
from ctr_helpers.train import (
    cpu_has_native_bf16,
    has_matmuls,
    keep_freed_memory,
    make_optimizer,
    precision_context,
)

EMBED = 16
BATCH = 4096
MLP = (400, 400, 400)
PEER_OPTIONS: dict[str, dict] = {
    "lr": {},
    "fm": {},
    "ffm": {},
    "dnn": dict(hidden=MLP, dropout=0.0, batch_norm=False),
    "deepfm": dict(hidden=MLP, dropout=0.0, batch_norm=False),
    "xdeepfm": dict(
        hidden=MLP, dropout=0.0, batch_norm=False, cin_layers=(128, 128), split_half=True
    ),
    "dcn": dict(hidden=MLP, dropout=0.0, batch_norm=False, num_cross_layers=3),
    "dcnv2": dict(hidden=MLP, dropout=0.0, batch_norm=False, num_cross_layers=3),
    "autoint": dict(num_attention_layers=3, num_heads=2, attention_dim=16, hidden=(), dropout=0.0),
    "autoint+": dict(
        num_attention_layers=3,
        num_heads=2,
        attention_dim=16,
        hidden=MLP,
        batch_norm=False,
        dropout=0.0,
    ),
    "fibinet": dict(hidden=MLP, dropout=0.0, batch_norm=False, bilinear_type="field_all"),
}
PEER_MODELS = ["lr", "fm", "ffm", "deepfm", "xdeepfm", "dcn", "autoint", "fibinet"]
NAIVE_MODELS = ("lr", "fm", "ffm", "deepfm")

# Peer figures (thousand samples/s), benchmarks/peers.md (how they were measured): (train, infer) per
# library (torchfm, DeepCTR-Torch, FuxiCTR); None where a library has no such model.
PEERS: dict[str, dict[str, list[tuple[float, float] | None]]] = {
    "frappe": {
        "lr": [(2237, 51386), (1858, 19737), (1890, 20315)],
        "fm": [(716, 12539), (596, 2115), (588, 7001)],
        "ffm": [(111, 1204), None, (84, 1016)],
        "deepfm": [(63, 192), (66, 245), (62, 242)],
        "xdeepfm": [(6, 24), (7, 20), (4, 14)],
        "dcn": [(62, 220), (58, 203), (64, 227)],
        "autoint": [(34, 95), (37, 97), (38, 98)],
        "fibinet": [None, (26, 90), (9, 25)],
    },
    "criteo": {
        "lr": [(350, 14553), (376, 4054), (360, 4789)],
        "fm": [(41, 1528), (71, 1014), (68, 952)],
        "ffm": [(0.7, 30), None, (1.6, 27)],
        "deepfm": [(22, 153), (28, 102), (27, 147)],
        "xdeepfm": [(1.4, 4.6), (1.5, 4.5), (0.7, 2.8)],
        "dcn": [(23, 130), (23, 94), (26, 118)],
        "autoint": [(6.7, 20), (8.5, 25), (8.7, 22)],
        "fibinet": [None, (1.7, 4.8), (0.3, 1.3)],
    },
}
PEER_NAIVE = {"criteo": {"lr": 0.5, "fm": 0.6, "deepfm": 0.6}}  # k samples/s, one-hot style

FRAPPE_DIMS = [957, 4082, 7, 7, 2, 3, 2, 9, 80, 233]  # the real Frappe fields (5,382 values)


def criteo_dims() -> list[int]:
    """39 fields, 1,000,000 values: 6 of 114k-162k, 10 of 2k-38k, 23 small (the shape of peers.md)."""
    large = [114_000, 118_000, 124_000, 130_000, 140_000, 162_000]
    medium = [2_000 + 4_000 * k for k in range(10)]  # 2k .. 38k
    small = [int(v) for v in np.geomspace(4, 1_500, 23).round()]
    small[-1] += 1_000_000 - sum(large) - sum(medium) - sum(small)
    return large + medium + small


SHAPES = {"frappe": FRAPPE_DIMS, "criteo": criteo_dims()}


def zipf_data(dims: list[int], rows: int, seed: int, s: float = 1.1):
    """Seeded ``x [rows, F]`` with Zipf(s)-skewed per-field indices, hot ids scattered."""
    rng = np.random.default_rng(seed)
    cols = []
    for d in dims:
        p = 1.0 / np.arange(1, d + 1) ** s
        ranks = rng.choice(d, size=rows, p=p / p.sum())
        cols.append(rng.permutation(d)[ranks])
    x = torch.from_numpy(np.stack(cols, axis=1).astype(np.int64))
    y = torch.from_numpy((rng.random(rows) < 0.25).astype(np.float32))
    return x, y


# ----------------------------------------------------------------------------- naive style
class NaiveModel(nn.Module):
    """Tutorial-style LR / FM / FFM / DeepFM: per-field tables, one-hot linear, pair loops."""

    def __init__(self, name: str, dims: list[int], embed_dim: int) -> None:
        super().__init__()
        self.name, self.dims, self.num_fields = name, dims, len(dims)
        self.total = sum(dims)
        self.register_buffer("offsets", torch.tensor([0, *np.cumsum(dims)[:-1].tolist()]))
        self.linear = nn.Linear(self.total, 1)  # one_hot @ w + b
        width = embed_dim * (self.num_fields if name == "ffm" else 1)
        self.tables = nn.ModuleList(nn.Embedding(d, width) for d in dims) if name != "lr" else None
        self.embed_dim = embed_dim
        if name == "deepfm":
            layers, w = [], self.num_fields * embed_dim
            for h in MLP:
                layers += [nn.Linear(w, h), nn.ReLU()]
                w = h
            self.mlp = nn.Sequential(*layers, nn.Linear(w, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        one_hot = torch.zeros(x.shape[0], self.total)
        one_hot.scatter_(1, x + self.offsets, 1.0)
        logit = self.linear(one_hot).squeeze(1)
        if self.name == "lr":
            return logit
        e = torch.stack([t(x[:, f]) for f, t in enumerate(self.tables)], dim=1)
        n, d = self.num_fields, self.embed_dim
        for i in range(n):
            for j in range(i + 1, n):
                if self.name == "ffm":
                    a, b = e[:, i, j * d : (j + 1) * d], e[:, j, i * d : (i + 1) * d]
                else:
                    a, b = e[:, i], e[:, j]
                logit = logit + (a * b).sum(dim=1)
        if self.name == "deepfm":
            logit = logit + self.mlp(e.flatten(1)).squeeze(1)
        return logit


# ----------------------------------------------------------------------------- FLOP estimates
def flops_per_sample(name: str, num_fields: int, d: int = EMBED) -> float:
    """Training FLOP per sample (~3x the forward's multiply-adds x 2), dense layers only."""
    f, p = num_fields, num_fields * (num_fields - 1) // 2
    flat = f * d

    def mlp(width_in: int, hidden=MLP, out: int | None = 1) -> int:
        total, w = 0, width_in
        for h in hidden:
            total += 2 * w * h
            w = h
        return total + (2 * w * out if out else 0)

    fm = 3 * f * d
    fwd = {
        "lr": 2 * f,
        "fm": 2 * f + fm,
        "ffm": 2 * f + 2 * p * d,
        "dnn": mlp(flat),
        "deepfm": 2 * f + fm + mlp(flat),
        "xdeepfm": 2 * f
        + mlp(flat)
        + (f * f * d + 2 * f * f * d * 128)  # CIN layer 1: outer product + compression
        # CIN layer 2 (split-half: 64 maps in), only ever pooled over D, so computed pooled:
        # the [B, 64, D] @ [B, D, F] Gram product, then the compression of [B, 64 * F]
        + (2 * 64 * d * f + 2 * 64 * f * 128),
        "dcn": mlp(flat, out=None) + 3 * 4 * flat + 2 * (flat + 400),
        "dcnv2": mlp(flat, out=None) + 3 * 2 * flat * flat + 2 * (flat + 400),
        "autoint": 3 * (3 * 2 * f * d * 16 + 2 * 2 * f * f * 16) + 2 * f * 16,
        "autoint+": 3 * (3 * 2 * f * d * 16 + 2 * 2 * f * f * 16) + 2 * f * 16 + mlp(flat),
        "fibinet": 2 * f + 2 * (2 * f * d * d + p * d) + mlp(2 * p * d),
    }[name]
    return 3.0 * fwd


def matmul_ceiling(seconds: float = 1.0) -> float:
    """float32 GFLOP/s of [4096, 400] @ [400, 400] (the MLP's sizes) on the current threads."""
    a, w = torch.randn(BATCH, 400), torch.randn(400, 400)
    out = torch.empty(BATCH, 400)
    for _ in range(5):
        torch.mm(a, w, out=out)
    best = []
    for _ in range(3):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds / 3:
            torch.mm(a, w, out=out)
            n += 1
        best.append(2 * BATCH * 400 * 400 * n / (time.perf_counter() - start) / 1e9)
    return statistics.median(best)


# ----------------------------------------------------------------------------- timing
def _batches(x, y, batch: int, steps: int, start: int):
    n = len(x) // batch
    for k in range(steps):
        i = ((start + k) % n) * batch
        yield x[i : i + batch], y[i : i + batch]


def time_passes(
    step: Callable, x, y, batch: int, steps: int, repeats: int, warmup: int = 2, start: int = 0
):
    """Median samples/s over ``repeats`` passes of ``steps`` batches, after ``warmup`` steps;
    batches are taken in order from batch number ``start`` (wrapping around the data)."""
    for xb, yb in _batches(x, y, batch, warmup, start):
        step(xb, yb)
    rates, start = [], start + warmup
    for _ in range(repeats):
        t0 = time.perf_counter()
        for xb, yb in _batches(x, y, batch, steps, start):
            step(xb, yb)
        rates.append(steps * batch / (time.perf_counter() - t0))
        start += steps
    return statistics.median(rates)


BF16 = False  # set in main(): also time our models in bf16 (a CPU with native bfloat16)


def train_step_fn(model: nn.Module, opt: torch.optim.Optimizer, precision="fp32") -> Callable:
    def step(xb, yb):
        with precision_context(precision, model=model):
            logits = model(xb)
        loss = F.binary_cross_entropy_with_logits(logits.float(), yb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def infer_step_fn(model: nn.Module, precision="fp32") -> Callable:
    def step(xb, yb):
        with torch.inference_mode(), precision_context(precision, model=model):
            model(xb)

    return step


def steps_for(rate_guess: float, batch: int, seconds: float, lo: int = 2, hi: int = 48) -> int:
    return int(min(hi, max(lo, round(rate_guess * seconds / batch))))


def time_interleaved(
    steps: dict[str, Callable], x, y, args, hi: int = 48, batch: int = BATCH
) -> dict[str, float]:
    """Samples/s of each step function in ``steps``, timed in alternation.

    Each function gets one warm-up step and one short pass that sizes its timed passes to about
    ``args.seconds`` (at most ``hi`` batches of ``batch`` rows); then ``args.repeats`` rounds
    time one pass of each function in turn, and each gets the median of its passes. Alternating
    keeps a drift in the machine's speed (frequent on shared cores) out of the ratio between two
    libraries."""
    sizes = {}
    for key, step in steps.items():
        guess = time_passes(step, x, y, batch, 1, 1, warmup=1)
        sizes[key] = steps_for(guess, batch, args.seconds, lo=1, hi=hi)
    rates: dict[str, list[float]] = {key: [] for key in steps}
    start = 2
    for _ in range(args.repeats):
        for key, step in steps.items():
            rates[key].append(time_passes(step, x, y, batch, sizes[key], 1, 0, start))
            start += sizes[key]
    return {key: statistics.median(r) for key, r in rates.items()}


def time_sized(step: Callable, x, y, args, hi: int = 48, batch: int = BATCH) -> float:
    """Samples/s of one step function (:func:`time_interleaved` with nothing to alternate)."""
    return time_interleaved({"": step}, x, y, args, hi, batch)[""]


def infer_passes(args) -> int:
    """Most batches in one timed inference pass (fewer in a --quick smoke run)."""
    return 8 if args.quick else 48


def build_ours(name, dims, optimizer=make_optimizer):
    """Our model as ``fit`` and ``predict_logits`` run it: sparse embedding gradients (``fit``
    trains inside ``sparse_embedding_grads``; the models are built dense) and no per-batch
    range check (they check each dataset once, before their batch loops)."""
    torch.manual_seed(0)
    model = get_model(name, dims, embed_dim=EMBED, sparse=True, **PEER_OPTIONS[name]).train()
    model.validate_inputs = False
    return model, optimizer(model, lr=1e-3)


def with_bf16(model: nn.Module) -> bool:
    """Whether a bf16 column is timed for ``model``: a native-bf16 CPU and a matrix product."""
    return BF16 and has_matmuls(model)


def bench_ours(name, dims, x, y, args):
    """``(train, infer)`` in float32 and ``(train, infer)`` in bf16 (None without a bf16
    column), the two precisions timed in alternation on the same model."""
    model, opt = build_ours(name, dims)
    train_steps = {"fp32": train_step_fn(model, opt, "fp32")}
    infer_steps = {"fp32": infer_step_fn(model, "fp32")}
    if with_bf16(model):
        train_steps["bf16"] = train_step_fn(model, opt, "bf16")
        infer_steps["bf16"] = infer_step_fn(model, "bf16")
    train = time_interleaved(train_steps, x, y, args)
    model.eval()
    infer = time_interleaved(infer_steps, x, y, args, hi=infer_passes(args))
    del model, opt
    gc.collect()
    bf16 = (train["bf16"], infer["bf16"]) if "bf16" in train else None
    return (train["fp32"], infer["fp32"]), bf16


def bench_naive(name, dims, x, y, batch, args):
    torch.manual_seed(0)
    model = NaiveModel(name, dims, EMBED)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    rate = time_sized(train_step_fn(model, opt), x, y, args, hi=8, batch=batch)
    del model, opt
    gc.collect()
    return rate


TORCHFM_MODELS = ("lr", "fm", "ffm", "deepfm", "xdeepfm", "dcn", "autoint+")
# torchfm's AutoInt always adds an MLP and a linear term to the attention: our AutoInt+ is the
# like-for-like model (ours has no linear term; torchfm's MLP always has batch norm).
TORCHFM_NOTES = {
    "autoint+": "torchfm AutoInt: 3 x 2 heads, dim 16, + MLP (BN) + linear term",
    "deepfm": "torchfm MLP with BN",
    "xdeepfm": "torchfm MLP with BN",
    "dcn": "torchfm MLP with BN",
}


def torchfm_model(name: str, dims: list[int]) -> nn.Module:
    """torchfm 0.7.0's model for ``name`` at the benchmark configuration (its MLP always has
    batch norm; dropout 0 here). Raises ImportError if torchfm is not installed."""
    from torchfm.model.afi import AutomaticFeatureInteractionModel
    from torchfm.model.dcn import DeepCrossNetworkModel
    from torchfm.model.dfm import DeepFactorizationMachineModel
    from torchfm.model.ffm import FieldAwareFactorizationMachineModel
    from torchfm.model.fm import FactorizationMachineModel
    from torchfm.model.lr import LogisticRegressionModel
    from torchfm.model.xdfm import ExtremeDeepFactorizationMachineModel

    autoint = PEER_OPTIONS["autoint+"]
    builders = {
        "lr": lambda: LogisticRegressionModel(dims),
        "fm": lambda: FactorizationMachineModel(dims, EMBED),
        "ffm": lambda: FieldAwareFactorizationMachineModel(dims, EMBED),
        "deepfm": lambda: DeepFactorizationMachineModel(dims, EMBED, MLP, dropout=0.0),
        "xdeepfm": lambda: ExtremeDeepFactorizationMachineModel(
            dims,
            EMBED,
            MLP,
            dropout=0.0,
            cross_layer_sizes=PEER_OPTIONS["xdeepfm"]["cin_layers"],
            split_half=True,
        ),
        "dcn": lambda: DeepCrossNetworkModel(
            dims, EMBED, PEER_OPTIONS["dcn"]["num_cross_layers"], MLP, dropout=0.0
        ),
        "autoint+": lambda: AutomaticFeatureInteractionModel(
            dims,
            EMBED,
            atten_embed_dim=autoint["attention_dim"],
            num_heads=autoint["num_heads"],
            num_layers=autoint["num_attention_layers"],
            mlp_dims=MLP,
            dropouts=(0.0, 0.0),
            has_residual=True,
        ),
    }
    return builders[name]()


def bench_with_torchfm(name, dims, x, y, args):
    """Ours and torchfm's ``name`` timed in alternation (:func:`time_interleaved`), training then
    inference: ``(ours_train, ours_infer)`` in float32, the same in bf16 (or None, see
    :func:`bench_ours`), ``(torchfm_train, torchfm_infer)``. torchfm trains with dense
    ``torch.optim.Adam`` and BCE on its sigmoid output (torchfm models return probabilities), in
    float32; inference under inference_mode."""
    model, opt = build_ours(name, dims)
    torch.manual_seed(0)
    peer = torchfm_model(name, dims).train()
    peer_opt = torch.optim.Adam(peer.parameters(), lr=1e-3)

    def peer_step(xb, yb):
        loss = F.binary_cross_entropy(peer(xb), yb)
        peer_opt.zero_grad(set_to_none=True)
        loss.backward()
        peer_opt.step()

    train_steps = {"ours": train_step_fn(model, opt, "fp32"), "torchfm": peer_step}
    if with_bf16(model):
        train_steps["bf16"] = train_step_fn(model, opt, "bf16")
    train = time_interleaved(train_steps, x, y, args)
    model.eval()
    peer.eval()
    steps = {"ours": infer_step_fn(model, "fp32"), "torchfm": infer_step_fn(peer)}
    if "bf16" in train_steps:
        steps["bf16"] = infer_step_fn(model, "bf16")
    infer = time_interleaved(steps, x, y, args, hi=infer_passes(args))
    bf16 = (train["bf16"], infer["bf16"]) if "bf16" in train else None
    return (train["ours"], infer["ours"]), bf16, (train["torchfm"], infer["torchfm"])


def naive_fits(name: str, dims: list[int], batch: int, budget_gb: float) -> bool:
    """Rough peak of the naive style: the one-hot batch and dense Adam over every table."""
    total = sum(dims)
    width = EMBED * (len(dims) if name == "ffm" else 1) if name != "lr" else 0
    params = total * (1 + width)
    gb = (batch * total + 4 * params) * 4 / 1e9  # one-hot, weights + grad + 2 moments
    return gb <= budget_gb


def fmt_rate(r: float | None) -> str:
    if r is None:
        return "—"
    if r < 1e3:
        return f"{r:.0f}"
    return f"{r / 1e3:,.1f}k" if r < 1e5 else f"{r / 1e3:,.0f}k"


def fastest_peer(shape: str, name: str):
    rows = [r for r in PEERS.get(shape, {}).get(name, []) if r is not None]
    if not rows:
        return None
    return max(r[0] for r in rows) * 1e3, max(r[1] for r in rows) * 1e3


def run_shape(shape: str, args, ceiling: float) -> list[str]:
    dims = SHAPES[shape]
    t0 = time.perf_counter()
    x, y = zipf_data(dims, args.rows, seed=args.seed)
    print(
        f"\n## {shape} shape: {len(dims)} fields, total vocab {sum(dims):,}, "
        f"{args.rows:,} rows (data {time.perf_counter() - t0:.1f}s)",
        flush=True,
    )
    naive_batch = BATCH if shape == "frappe" else args.naive_batch
    lines = [
        f"### {shape}: {len(dims)} fields, vocab {sum(dims):,}; batch {BATCH} "
        f"(naive at batch {naive_batch}); `uptime` load at start: {load()}",
        "",
        "| model | ours fp32 train/s | ours fp32 infer/s | fastest peer train / infer (published) "
        "| ratio train / infer | naive train/s | ours / naive | est. train FLOP/sample "
        "| % of matmul ceiling |" + (" ours bf16 train / infer | bf16 / fp32 |" if BF16 else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|" + ("---:|---:|" if BF16 else ""),
    ]
    same_run: list[str] = []
    for name in args.models:
        with_peer = args.torchfm and name in TORCHFM_MODELS
        peer_too_big = name == "ffm" and shape == "criteo"  # torchfm's FFM: ~10 GB with Adam
        if with_peer and not peer_too_big:
            (train, infer), bf16, (tf_train, tf_infer) = bench_with_torchfm(name, dims, x, y, args)
        else:
            (train, infer), bf16 = bench_ours(name, dims, x, y, args)
        peer = fastest_peer(shape, name)
        naive = None
        naive_note = ""
        if name in NAIVE_MODELS and not args.no_naive:
            if naive_fits(name, dims, naive_batch, args.naive_gb):
                naive = bench_naive(name, dims, x, y, naive_batch, args)
                if naive_batch != BATCH:
                    naive_note = f" (b={naive_batch})"
            else:
                naive_note = f"does not fit in {args.naive_gb:g} GB"
        flops = flops_per_sample(name, len(dims))
        pct = 100 * train * flops / (ceiling * 1e9)
        peer_txt = "—" if peer is None else f"{fmt_rate(peer[0])} / {fmt_rate(peer[1])}"
        ratio = "—" if peer is None else f"{train / peer[0]:.2f}x / {infer / peer[1]:.2f}x"
        naive_txt = (fmt_rate(naive) + naive_note) if naive is not None else (naive_note or "—")
        vs_naive = f"{train / naive:,.0f}x" if naive else "—"
        line = (
            f"| {name} | {fmt_rate(train)} | {fmt_rate(infer)} | {peer_txt} | {ratio} | "
            f"{naive_txt} | {vs_naive} | {flops / 1e6:.3g}M | {pct:.1f}% |"
        )
        bf16_txt = "—" if bf16 is None else f"{fmt_rate(bf16[0])} / {fmt_rate(bf16[1])}"
        bf16_vs = "—" if bf16 is None else f"{bf16[0] / train:.2f}x / {bf16[1] / infer:.2f}x"
        if BF16:
            line += f" {bf16_txt} | {bf16_vs} |"
        lines.append(line)
        print(line, flush=True)
        if with_peer:
            if peer_too_big:
                same_run.append(
                    f"| {name} | — | — | — | {'— | — | ' if BF16 else ''}"
                    "not run: ~620M parameters, ~10 GB with Adam |"
                )
            else:
                bf16_cells = ""
                if BF16:
                    bf16_cells = (
                        f"{bf16_txt} | —"
                        if bf16 is None
                        else f"{bf16_txt} | {bf16[0] / tf_train:.2f}x / {bf16[1] / tf_infer:.2f}x"
                    ) + " | "
                same_run.append(
                    f"| {name} | {fmt_rate(tf_train)} / {fmt_rate(tf_infer)} | "
                    f"{fmt_rate(train)} / {fmt_rate(infer)} | "
                    f"{train / tf_train:.2f}x / {infer / tf_infer:.2f}x | {bf16_cells}"
                    f"{TORCHFM_NOTES.get(name, '')} |"
                )
                print(same_run[-1], flush=True)
    if same_run:
        lines += [
            "",
            f"torchfm 0.7.0 re-measured in this run, same data, harness and threads ({shape}):",
            "",
            "| model | torchfm fp32 train / infer | ours fp32 train / infer "
            "| ours / torchfm, fp32 vs fp32 |"
            + (" ours bf16 train / infer | ours bf16 / torchfm fp32 |" if BF16 else "")
            + " note |",
            "|---|---:|---:|---:|" + ("---:|---:|" if BF16 else "") + "---|",
            *same_run,
        ]
    return lines


def cpu_flags() -> str:
    """The CPU's vector extensions that decide these numbers: AVX2, AVX-512, native bfloat16."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = set(f.read().split())
    except OSError:
        return "unknown (no /proc/cpuinfo)"
    names = {
        "avx2": "AVX2",
        "avx512f": "AVX-512",
        "avx512_bf16": "AVX512-BF16",
        "amx_bf16": "AMX-BF16",
    }
    return ", ".join(f"{label} {'yes' if flag in flags else 'no'}" for flag, label in names.items())


def load() -> str:
    try:
        return " ".join(f"{v:.1f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=["frappe", "criteo", "all"], default="all")
    ap.add_argument(
        "--models",
        default=",".join(PEER_MODELS),
        help="comma-separated model names, or 'all' for every registered model",
    )
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=2.0, help="target length of a timed pass")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--naive-batch", type=int, default=512, help="naive batch at Criteo shape")
    ap.add_argument("--naive-gb", type=float, default=4.0, help="memory budget of a naive run")
    ap.add_argument("--no-naive", action="store_true")
    ap.add_argument(
        "--no-bf16",
        action="store_true",
        help="skip the bf16 columns (timed only on a CPU with native bfloat16)",
    )
    ap.add_argument("--quick", action="store_true", help="smoke run: 20k rows, 1 short pass")
    ap.add_argument(
        "--torchfm",
        action="store_true",
        help="also time torchfm 0.7.0 (pip install torchfm==0.7.0) in this run: "
        + ", ".join(TORCHFM_MODELS),
    )
    args = ap.parse_args(argv)
    if args.torchfm:
        try:
            import torchfm  # noqa: F401
        except ImportError:
            ap.error("--torchfm needs torchfm installed: pip install torchfm==0.7.0")
    from ctr_helpers.models import MODELS

    args.models = list(MODELS) if args.models == "all" else args.models.split(",")
    unknown = [m for m in args.models if m not in PEER_OPTIONS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; valid: {', '.join(PEER_OPTIONS)}")
    if args.quick:
        args.rows, args.repeats, args.seconds = min(args.rows, 20_000), 1, 0.3
        args.naive_batch = min(args.naive_batch, 128)
    torch.set_num_threads(args.threads)
    global BF16
    BF16 = cpu_has_native_bf16() and not args.no_bf16
    # opt-in: the fast path this script measures (fit leaves malloc alone by default)
    malloc = "keeps freed memory (glibc, opted in)" if keep_freed_memory() else "left as it is"
    shapes = ["frappe", "criteo"] if args.shape == "all" else [args.shape]
    ceiling = matmul_ceiling()
    header = [
        f"# ctr_helpers speed ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)",
        f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or 'cpu'}, "
        f"{os.cpu_count()} cores; load {load()}; CPU flags: {cpu_flags()}",
        "ours and torchfm in float32 (fit's default); "
        + (
            "ours also in bf16 (precision='bf16', the opt-in)"
            if BF16
            else "no bf16 column"
            + (" (--no-bf16)" if args.no_bf16 else " (no native bfloat16 on this CPU)")
        )
        + f"; the naive style in fp32; malloc {malloc} for every library in this run",
        f"command: python {' '.join(sys.argv)}",
        f"float32 matmul ceiling [4096x400]@[400x400]: {ceiling:.0f} GFLOP/s",
    ]
    print("\n".join(header), flush=True)
    out = header[:]
    for shape in shapes:
        out += [""] + run_shape(shape, args, ceiling)
    print("\n\n" + "\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
