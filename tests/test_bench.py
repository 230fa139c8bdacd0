"""The benchmark command on a tiny stand-in for Frappe: result files, their atomic writing, the
figure and the loaders for notebook 09."""

from __future__ import annotations

import json
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


# The published BARS Frappe_x1 leaderboard, the rows of the models the course trains, copied from
# reczoo/BARS docs/CTR/leaderboard/frappe_x1.csv (columns Model, AUC, Logloss; BARS names DNN
# "YoutubeDNN"). Kept here so the check needs nothing outside the repository.
BARS_LEADERBOARD = """\
LR,0.9356,0.3076
FM,0.9671,0.2065
FFM,0.9786,0.186
YoutubeDNN,0.9833,0.1622
DeepFM,0.9842,0.1482
DCN,0.9839,0.1527
DCN-V2,0.9845,0.1491
xDeepFM,0.9845,0.1466
AutoInt,0.9831,0.1637
AutoInt+,0.9848,0.149
FiBiNET,0.9832,0.1941
"""


def test_bars_table_matches_the_published_leaderboard():
    keys = {"youtubednn": "dnn", "dcn-v2": "dcnv2"}
    published = {}
    for line in BARS_LEADERBOARD.splitlines():
        model, auc, logloss = line.split(",")
        published[keys.get(model.lower(), model.lower())] = (float(auc), float(logloss))
    ours = {key: (ref["auc"], ref["logloss"]) for key, ref in bench.BARS["frappe"].items()}
    assert ours == published


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


@pytest.mark.parametrize("models", [["fm"], ["lr", "fm", "deepfm"]])
def test_every_bar_and_seed_tick_fits_inside_its_axes(models):
    import pandas as pd

    from ctr_helpers.plots import benchmark_bars

    rows = [
        dict(model=m, seed=s, test_auc=0.96 + 0.001 * s, test_logloss=0.2 + 0.004 * s)
        for m in models
        for s in range(3)
    ]
    fig = benchmark_bars(pd.DataFrame(rows), bench.BARS["frappe"])
    for ax in fig.axes:
        bottom, top = ax.get_ylim()
        tallest = max(p.get_height() for p in ax.patches)
        assert tallest < top - 0.05 * (top - bottom), f"{ax.get_title()}: bar at the axis top"
        for line in ax.lines:  # the per-seed ticks
            assert bottom < min(line.get_ydata()) and max(line.get_ydata()) < top


def test_an_output_path_that_is_a_file_fails_before_training(tiny, tmp_path, monkeypatch):
    def must_not_train(*args, **kwargs):
        raise AssertionError("trained although the output path is unusable")

    monkeypatch.setattr(bench.T, "fit", must_not_train)
    out = tmp_path / "results.json"
    out.write_text("{}")
    with pytest.raises(SystemExit) as exc:
        bench.main(["frappe", "--models", "lr", "--seeds", "1", "--out", str(out)])
    assert exc.value.code == 2
    assert out.read_text() == "{}"
