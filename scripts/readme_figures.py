"""Redraw the README's headline figures with the course's own plot functions.

    python scripts/readme_figures.py          # writes docs/img/*.png and data/results/frappe/auc_logloss.png

- the AUC/logloss bars come from the committed benchmark results (``ctr_helpers.bench``);
- the cross-network parameter growth is computed from the formulas notebook 06 checks against the
  real layers;
- the reliability diagram calibrates a focal-loss FM on planted imbalanced data (notebook 10's
  experiment, smaller).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import ctr_helpers as ch  # noqa: E402
from ctr_helpers import bench, calibration, data, layers, metrics, models, plots, train  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"


def n_monomials(width: int, degree: int) -> int:
    """Monomials of degree <= ``degree`` in ``width`` variables, the constant included."""
    return math.comb(width + degree, degree)


def n_cross(width: int, degree: int, kind: str, rank: int = 16) -> int:
    """Parameters of a cross network reaching ``degree`` (``degree - 1`` layers)."""
    per_layer = {
        "dcn": 2 * width,
        "dcnv2": width * width + width,
        "lowrank": 2 * width * rank + width,
    }
    return per_layer[kind] * (degree - 1)


def cross_growth() -> plt.Figure:
    dcn = models.DCN([1] * 10)  # Frappe's 10 fields at the default embedding size
    d, p = dcn.cross.input_dim, dcn.cross.num_layers + 1
    for kind, layer in {
        "dcn": layers.CrossNetwork(d, p - 1),
        "dcnv2": layers.CrossNetworkV2(d, p - 1),
        "lowrank": layers.CrossNetworkV2(d, p - 1, low_rank=16),
    }.items():
        assert n_cross(d, p, kind) == models.count_parameters(layer), kind
    series = {
        "all monomials (explicit polynomial)": lambda w, k: n_monomials(w, k),
        "DCN cross network, L = p - 1": lambda w, k: n_cross(w, k, "dcn"),
        "DCN-v2, full matrices": lambda w, k: n_cross(w, k, "dcnv2"),
        "DCN-v2, rank 16": lambda w, k: n_cross(w, k, "lowrank"),
    }
    degrees, widths = list(range(2, 7)), sorted({10, 20, 50, 200, 500, 1000, d})
    poly, cross = n_monomials(d, p), n_cross(d, p, "dcn")
    return plots.cross_param_growth(
        degrees,
        {name: [f(d, k) for k in degrees] for name, f in series.items()},
        widths,
        {name: [f(w, p) for w in widths] for name, f in series.items()},
        d=d,
        p=p,
        title=(
            f"Degree {p} over d = {d} inputs: {poly:,} weights as an explicit polynomial, "
            f"{cross:,} as a cross network ({poly / cross:,.0f}x fewer)"
        ),
    )


def reliability() -> plt.Figure:
    ds = data.make_pairwise(60_000, seed=0, positive_rate=0.05)
    model = models.FM(ds.field_dims, embed_dim=8)
    train.fit(
        model,
        ds.train,
        ds.val,
        epochs=8,
        batch_size=1024,
        lr=1e-2,
        loss="focal",
        progress=False,
        seed=0,
    )
    p_val, p_test = train.predict_proba(model, ds.val.x), train.predict_proba(model, ds.test.x)
    y_val, y_test = ds.val.y.numpy(), ds.test.y.numpy()
    curves = {
        "focal loss, raw": p_test,
        "+ Platt scaling": calibration.PlattScaler().fit(p_val, y_val).transform(p_test),
        "+ isotonic regression": calibration.IsotonicCalibrator()
        .fit(p_val, y_val)
        .transform(p_test),
    }
    eces = [metrics.ece(y_test, p) for p in curves.values()]
    return plots.reliability_diagram(
        y_test,
        curves,
        title=(
            f"Focal loss pulls scores toward the middle; calibrated on held-out rows: ECE {eces[0]:.3f} "
            f"-> {eces[1]:.3f} (Platt), {eces[2]:.3f} (isotonic)"
        ),
    )


def main() -> None:
    ch.setup(seed=0)
    OUT.mkdir(parents=True, exist_ok=True)
    for name, make in [("cross_param_growth", cross_growth), ("reliability", reliability)]:
        fig = make()
        fig.savefig(OUT / f"{name}.png")
        plt.close(fig)
        print(f"wrote {OUT / name}.png")
    path = bench.draw_figure(ROOT / "data" / "results" / "frappe")
    print(f"wrote {path}" if path else "no benchmark results yet: data/results/frappe is empty")


if __name__ == "__main__":
    main()
