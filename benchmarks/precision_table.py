"""How far bfloat16 mixed precision moves every model's logit from float32, on O(1) weights.

Usage::

    python benchmarks/precision_table.py            # both tables, 4,096 rows, 1 thread
    python benchmarks/precision_table.py --rows 20000

Each model runs the same batch twice in eval mode, once in float32 and once under
``precision_context("bf16")`` (``torch.autocast`` with bfloat16: the matrix products in
bfloat16, the linear term, FM/FFM pair terms and the logit layer in float32), and the table
gives ``max |logit_bf16 - logit_fp32|`` over the batch.

- **small, N(0, 0.3)**: the configuration of ``tests/test_precision.py`` (10 fields, embed 8, MLP
  [16, 16], CIN [8, 8], 2 cross layers, AutoInt 2 x 2 heads of width 8), every parameter drawn
  from N(0, 0.3). ``u L M`` is the test's tolerance (``u = 2^-8``, ``L`` matrix-product layers,
  ``M`` the largest bf16 value), ``ratio`` the measured difference over it.
- **default, Frappe shape**: ``get_model(name, frappe_dims)`` with its defaults (BARS sizes:
  MLP [400, 400, 400] with batch norm, ...), embeddings drawn from N(0, 0.3) and the dense
  layers at their own initialisation.

LR, FM and FFM have no matrix product: their bf16 logit is their float32 logit, bit for bit.
"""

from __future__ import annotations

import argparse
import sys

import torch
from torch import nn

from ctr_helpers.models import MODELS, get_model
from ctr_helpers.optim import is_embedding
from ctr_helpers.runtime import cpu_has_native_bf16, precision_context

U = 2.0**-8
MATMULS = (nn.Linear, nn.Conv1d)
SMALL_DIMS = [7, 11, 5, 9, 13, 6, 4, 8, 10, 3]
FRAPPE_DIMS = [957, 4082, 7, 7, 2, 3, 2, 9, 80, 233]
ATTENTION = dict(num_attention_layers=2, num_heads=2, attention_dim=8)
SMALL_OPTIONS = {
    "dnn": dict(hidden=(16, 16)),
    "deepfm": dict(hidden=(16, 16)),
    "xdeepfm": dict(hidden=(16, 16), cin_layers=(8, 8)),
    "dcn": dict(hidden=(16, 16), num_cross_layers=2),
    "dcnv2": dict(hidden=(16, 16), num_cross_layers=2),
    "autoint": ATTENTION,
    "autoint+": dict(ATTENTION, hidden=(16, 16)),
    "fibinet": dict(hidden=(16, 16)),
}


def rows(dims: list[int], n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, d, (n,), generator=g) for d in dims], dim=1)


def redraw(model: nn.Module, embeddings_only: bool, seed: int = 1) -> nn.Module:
    """Draw parameters from N(0, 0.3): every one, or only the embedding tables'."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if embeddings_only and not is_embedding(module):
                continue
            for p in module.parameters(recurse=False):
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model.eval()


def bf16_magnitude(model: nn.Module, x: torch.Tensor) -> float:
    """The largest |output| of any matrix-product layer or top-level part holding one."""
    parts = [m for m in model.modules() if isinstance(m, MATMULS)]
    parts += [
        c
        for c in model.children()
        if any(isinstance(m, MATMULS) for m in c.modules()) and type(c) is not nn.ModuleList
    ]
    seen: list[float] = []
    hooks = [
        p.register_forward_hook(lambda m, i, o: seen.append(float(o.abs().max()))) for p in parts
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return max(seen, default=0.0)


def difference(model: nn.Module, x: torch.Tensor) -> tuple[float, float, float]:
    """``(max |z_fp32|, max |z_bf16 - z_fp32|, mean |z_bf16 - z_fp32|)``."""
    with torch.no_grad():
        z32 = model(x)
        with precision_context("bf16"):
            z16 = model(x)
    assert z16.dtype == torch.float32
    d = (z16 - z32).abs()
    return float(z32.abs().max()), float(d.max()), float(d.mean())


def small_table(n: int) -> list[str]:
    x = rows(SMALL_DIMS, n)
    out = [
        "| model | max abs logit | max abs diff | mean abs diff | u L M | ratio |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name in MODELS:
        torch.manual_seed(0)
        model = get_model(name, SMALL_DIMS, embed_dim=8, **SMALL_OPTIONS.get(name, {}))
        redraw(model, embeddings_only=False)
        top, dmax, dmean = difference(model, x)
        depth = sum(isinstance(m, MATMULS) for m in model.modules())
        bound = U * depth * bf16_magnitude(model, x)
        ratio = f"{dmax / bound:.2f}" if bound else "—"
        out.append(f"| {name} | {top:.3g} | {dmax:.3g} | {dmean:.3g} | {bound:.3g} | {ratio} |")
    return out


def default_table(n: int) -> list[str]:
    x = rows(FRAPPE_DIMS, n)
    out = [
        "| model | max abs logit | max abs diff | mean abs diff |",
        "|---|---:|---:|---:|",
    ]
    for name in MODELS:
        torch.manual_seed(0)
        model = redraw(get_model(name, FRAPPE_DIMS), embeddings_only=True)
        top, dmax, dmean = difference(model, x)
        out.append(f"| {name} | {top:.3g} | {dmax:.3g} | {dmean:.3g} |")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"# bf16 vs float32 logits, {args.rows:,} rows, torch {torch.__version__}, "
        f"native bf16 on this CPU: {cpu_has_native_bf16()}\n"
    )
    print("## small models, every parameter N(0, 0.3)\n")
    print("\n".join(small_table(args.rows)))
    print("\n## default construction at Frappe shape, embeddings N(0, 0.3)\n")
    print("\n".join(default_table(args.rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
