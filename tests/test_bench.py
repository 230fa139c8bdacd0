"""The benchmark command on a tiny stand-in for Frappe: result files, their atomic writing, the
figure and the loaders for notebook 09."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
import torch

pytest.importorskip("ctr_helpers.models")
matplotlib.use("Agg")

from ctr_helpers import bench  # noqa: E402
from ctr_helpers.train import _demo_data  # noqa: E402

DIMS = [7, 5, 3]


@pytest.fixture(autouse=True, scope="module")
def restore_threads():  # bench.main sets torch's thread count (--threads 1 here)
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture
def tiny(monkeypatch):
    x, y = _demo_data(3000, len(DIMS), 3, seed=0)
    split = lambda a, b: SimpleNamespace(x=x[a:b], y=y[a:b])  # noqa: E731
    ds = SimpleNamespace(
        name="frappe_x1", field_dims=DIMS, train=split(0, 2000), val=split(2000, 2500),
        test=split(2500, 3000),
    )  # fmt: skip
    monkeypatch.setattr("ctr_helpers.data.load_frappe", lambda *a, **k: ds)
    monkeypatch.setenv("TQDM_DISABLE", "1")
    return ds


def test_bars_table_matches_the_shared_benchmarks_file():
    doc = Path(__file__).resolve().parents[2] / "shared" / "BENCHMARKS.md"
    if not doc.exists():
        pytest.skip("shared/BENCHMARKS.md not present")
    names = {"autoint+": "AutoInt+", "fibinet": "FiBiNET"}
    text = doc.read_text()
    for key, ref in bench.BARS["frappe"].items():
        label = names.get(key, key)
        m = re.search(rf"^\| {re.escape(label)} \| ([\d.]+) \| ([\d.]+) \|", text, re.M | re.I)
        assert m, label
        assert (float(m[1]), float(m[2])) == (ref["auc"], ref["logloss"]), label


def test_bench_writes_results_and_figure(tiny, tmp_path):
    rc = bench.main(
        ["frappe", "--models", "lr,fm", "--seeds", "1", "2", "--epochs", "2",
         "--out", str(tmp_path), "--threads", "1"]
    )  # fmt: skip
    assert rc == 0
    out = tmp_path / "frappe"
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "auc_logloss.png", "fm_seed1.json", "fm_seed2.json", "lr_seed1.json", "lr_seed2.json",
    ]  # fmt: skip
    rec = json.loads((out / "fm_seed1.json").read_text())
    for key in ("test_auc", "test_logloss", "best_epoch", "wall_seconds", "parameters",
                "versions", "machine", "command", "history", "bars"):  # fmt: skip
        assert key in rec, key
    assert 0.5 < rec["test_auc"] <= 1 and rec["epochs_cap"] == 2
    assert rec["config"]["batch_size"] == 4096 and rec["config"]["emb_reg"] == 5e-6
    assert rec["command"].startswith("python -m ctr_helpers.bench frappe --models lr,fm")
    assert rec["versions"]["torch"] == torch.__version__
    assert rec["bars"]["auc"] == 0.9671

    df = bench.load_results(out)
    assert len(df) == 4 and df["model"].tolist() == ["lr", "lr", "fm", "fm"]
    summary = bench.summarize(df)
    assert summary.loc["fm", "seeds"] == 2
    assert summary.loc["fm", "auc_diff"] == pytest.approx(
        df.loc[df.model == "fm", "test_auc"].mean() - 0.9671
    )


def test_failed_run_keeps_the_good_result(tiny, tmp_path, monkeypatch):
    assert bench.main(["frappe", "--models", "lr", "--seeds", "1", "--epochs", "1",
                       "--out", str(tmp_path), "--no-figure"]) == 0  # fmt: skip
    good = (tmp_path / "frappe" / "lr_seed1.json").read_text()

    def boom(*a, **k):
        raise FloatingPointError("diverged")

    monkeypatch.setattr(bench.T, "fit", boom)
    rc = bench.main(["frappe", "--models", "lr", "--seeds", "1", "--epochs", "1",
                     "--out", str(tmp_path), "--no-figure"])  # fmt: skip
    assert rc == 1
    assert (tmp_path / "frappe" / "lr_seed1.json").read_text() == good
    assert [p.name for p in (tmp_path / "frappe").iterdir()] == ["lr_seed1.json"]  # no temp files


def test_unknown_model_is_a_clear_error(tiny, tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["frappe", "--models", "nope", "--out", str(tmp_path)])


def test_plots_return_figures():
    import pandas as pd

    from ctr_helpers.plots import benchmark_bars, reliability_diagram

    df = pd.DataFrame(
        dict(model=["lr", "lr", "fm"], test_auc=[0.93, 0.931, 0.96], test_logloss=[0.3, 0.31, 0.2])
    )
    fig = benchmark_bars(df, bench.BARS["frappe"])
    assert len(fig.axes) == 2
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["lr", "fm"]
    rng = np.random.default_rng(0)
    p = rng.random(500)
    fig = reliability_diagram(rng.random(500) < p, {"a": p, "b": p**2})
    assert len(fig.axes) == 2
    assert "ECE" in fig.axes[0].get_legend().get_texts()[1].get_text()
