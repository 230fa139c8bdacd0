"""bfloat16 mixed precision changes only the matrix products: every model's bf16 logit equals its
float32 logit within what bfloat16 rounding of those products can explain, and the parts the
package keeps in float32 (linear term, FM and FFM pair terms, the logit layer) stay float32.

The tolerance. Under ``torch.autocast(dtype=torch.bfloat16)`` a matrix product rounds its input
and its weight to bfloat16 and returns bfloat16 (accumulating in float32 inside). bfloat16 keeps
an 8-bit significand, so each rounding moves a value by a relative ``u = 2^-8`` at most; a product
of random-sign terms then carries a relative error of the order of ``u`` of the magnitudes it
combines, and a chain of ``L`` products adds up at most ``L`` such errors, carried forward to the
logit. So ``|bf16 logit - float32 logit| <= u * L * M``, with ``L`` the number of matrix-product
layers in the model (``nn.Linear``, ``nn.Conv1d``; an upper bound on the depth of any path) and
``M`` the largest magnitude a bf16 value takes on this batch (the output of any such layer, or of
a top-level part holding them). A float32 part adds nothing: LR, FM and FFM (no matrix product)
must come out bit for bit the same. Measured over 12 weight draws: at most half the bound (DCN;
the others below a quarter). With DeepFM's FM term computed in bfloat16 (``torch.linalg.vecdot``
is on autocast's bfloat16 list) the difference is 1.2-2.1x the bound and the test fails.
"""

from __future__ import annotations

import pytest
import torch
from _threads import one_thread  # noqa: F401 (autouse: one torch thread here)
from torch import nn

from ctr_helpers import layers
from ctr_helpers.models import MODELS, get_model
from ctr_helpers.runtime import precision_context

U = 2.0**-8  # bfloat16's unit roundoff: 8-bit significand (7 stored + the implicit bit)
DIMS = [7, 11, 5, 9, 13, 6, 4, 8, 10, 3]
SMALL = dict(hidden=(16, 16))
ATTENTION = dict(num_attention_layers=2, num_heads=2, attention_dim=8)
OPTIONS = {
    "dnn": SMALL,
    "deepfm": SMALL,
    "xdeepfm": dict(SMALL, cin_layers=(8, 8)),
    "dcn": dict(SMALL, num_cross_layers=2),
    "dcnv2": dict(SMALL, num_cross_layers=2),
    "autoint": ATTENTION,
    "autoint+": dict(ATTENTION, **SMALL),
    "fibinet": SMALL,
}
MATMULS = (nn.Linear, nn.Conv1d)


def rows(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, d, (n,), generator=g) for d in DIMS], dim=1)


def o1_model(name: str, seed: int = 0) -> nn.Module:
    """``name`` with every parameter drawn from N(0, 0.3) (O(1) activations at these widths:
    fan-in x 0.09 is about 1-4), in eval mode (batch norm on its running statistics)."""
    torch.manual_seed(seed)
    model = get_model(name, DIMS, embed_dim=8, **OPTIONS.get(name, {})).eval()
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return model


def bf16_magnitude(model: nn.Module, x: torch.Tensor) -> float:
    """``M``: the largest |output| (in float32) of any matrix-product layer, or of a top-level
    part of the model holding one."""
    parts = [m for m in model.modules() if isinstance(m, MATMULS)]
    parts += [
        child
        for child in model.children()
        if any(isinstance(m, MATMULS) for m in child.modules()) and type(child) is not nn.ModuleList
    ]
    seen: list[float] = []
    hooks = [
        part.register_forward_hook(lambda m, i, out: seen.append(float(out.abs().max())))
        for part in parts
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return max(seen, default=0.0)


@pytest.mark.parametrize("name", list(MODELS))
def test_bf16_forward_equals_float32_within_bf16_rounding_of_the_matmuls(name):
    model, x = o1_model(name), rows(4096)
    with torch.no_grad():
        z32 = model(x)
        with precision_context("bf16"):  # autocast on, whatever the model holds
            assert torch.is_autocast_enabled("cpu")
            z16 = model(x)
    assert z16.dtype == torch.float32  # the logit stays float32
    depth = sum(isinstance(m, MATMULS) for m in model.modules())
    tolerance = U * depth * bf16_magnitude(model, x)
    diff = float((z16 - z32).abs().max())
    assert diff <= tolerance, f"{name}: max |bf16 - fp32| = {diff:.4g} > u*L*M = {tolerance:.4g}"
    if depth:
        assert diff > 0  # bfloat16 really ran: the comparison is not vacuous


@pytest.mark.parametrize("grad", [False, True])
def test_fm_pair_term_is_float32_under_autocast(grad):
    # O(1) embeddings [B, F, D]: in bfloat16 the pair term would be off by ~u |s|^2 (~0.1 here)
    fm = layers.FMInteraction()
    e = torch.randn(256, 10, 16, generator=torch.Generator().manual_seed(0))
    e_plain, e_auto = e.clone().requires_grad_(grad), e.clone().requires_grad_(grad)
    ref = fm(e_plain)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = fm(e_auto)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    if grad:  # the forward agrees with the hand-written float32 backward
        (g_ref,) = torch.autograd.grad(ref.sum(), e_plain)
        (g_auto,) = torch.autograd.grad(out.sum(), e_auto)
        torch.testing.assert_close(g_auto, g_ref, rtol=0, atol=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        from_bf16 = fm(e.bfloat16())  # bfloat16 embeddings: the sums still run in float32
    assert from_bf16.dtype == torch.float32
    torch.testing.assert_close(from_bf16, fm(e.bfloat16().float()), rtol=0, atol=0)


@pytest.mark.parametrize("grad", [False, True])
def test_ffm_pair_term_is_float32_under_autocast(grad):
    torch.manual_seed(0)
    ffm = layers.FFMInteraction(DIMS, 8)
    with torch.no_grad():
        ffm.embedding.embedding.embedding.weight.normal_(0, 0.3)
    ffm.requires_grad_(grad)
    x = rows(512)
    with torch.set_grad_enabled(grad):
        ref = ffm(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = ffm(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
