"""Benchmark every model under the BARS Frappe_x1 protocol and compare with the leaderboard.

Usage::

    python -m ctr_helpers.bench frappe                        # all models, seed 2021
    python -m ctr_helpers.bench frappe --models deepfm,dcn --seeds 2021 2022 --epochs 100

Protocol (BARS, Zhu et al. SIGIR 2022; FuxiCTR v1.1.0's ``BaseModel``): embedding 10, batch
4096, Adam 1e-3, up to ``--epochs`` epochs, the gradient norm clipped at 10 every step, early
stopping on validation AUC with patience 2 (an epoch improves when its AUC beats the best by more
than 1e-6), learning rate x0.1 on each epoch without improvement (floor 1e-6), best epoch
restored; dense layers Glorot-normal (``linear_init``). Each model's defaults and ``bars``
regularisation follow the BARS configurations (each model's ``<Model>_frappe_x1`` README and log in the
BARS repository, :data:`BARS_SOURCE`; what differs from
the papers is in ``docs/deviations.md``), the embedding L2 over the whole table at every batch as
BARS applies it (``train.LazyAdam``, ``l2_scope="table"``). :data:`PROTOCOL` holds the settings
shared by every model and is recorded in each result's ``config``.

For each model and seed a JSON file ``<out>/frappe/<model>_seed<seed>.json`` holds the test AUC
and logloss, best epoch, per-epoch history, wall seconds, parameter count, library versions, the
machine and the command. It is written atomically and only after a successful run, so a failed
or interrupted run never replaces a good result. The figure ``<out>/frappe/auc_logloss.png``
(ours beside BARS) is redrawn from every result file present at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

import ctr_helpers
from ctr_helpers import train as T

if TYPE_CHECKING:
    import pandas as pd

    from ctr_helpers.data import CTRDataset

__all__ = ["BARS", "BARS_SOURCE", "PROTOCOL", "load_results", "main", "run_one", "summarize"]

BARS_SOURCE = (
    "reczoo/BARS commit 5b5e61f, docs/CTR/leaderboard/frappe_x1.csv (one run, seed 2021); "
    "Zhu et al., 'BARS: Towards Open Benchmarking for Recommender Systems', SIGIR 2022, "
    "arXiv:2205.09626"
)

#: Published BARS Frappe_x1 numbers per model key of ``ctr_helpers.models.MODELS``.
BARS: dict[str, dict[str, dict[str, float]]] = {
    "frappe": {
        "lr": dict(auc=0.9356, logloss=0.3076, stop_epoch=100, params=5_390),
        "fm": dict(auc=0.9671, logloss=0.2065, stop_epoch=100, params=59_280),
        "ffm": dict(auc=0.9786, logloss=0.1860, stop_epoch=84, params=490_400),
        # the count BARS logged; FuxiCTR v1.1.0's DNN has 417,891 (embeddings 53,890 + MLP
        # 364,001), and 781,892 = embeddings + 2 x MLP, which no FuxiCTR DNN builds: a log anomaly
        "dnn": dict(auc=0.9833, logloss=0.1622, stop_epoch=16, params=781_892),
        "deepfm": dict(auc=0.9842, logloss=0.1482, stop_epoch=15, params=423_280),
        "xdeepfm": dict(auc=0.9845, logloss=0.1466, stop_epoch=14, params=429_809),
        "dcn": dict(auc=0.9839, logloss=0.1527, stop_epoch=17, params=418_591),
        "dcnv2": dict(auc=0.9845, logloss=0.1491, stop_epoch=19, params=458_391),
        "autoint": dict(auc=0.9831, logloss=0.1637, stop_epoch=31, params=306_051),
        "autoint+": dict(auc=0.9848, logloss=0.1490, stop_epoch=15, params=622_180),
        "fibinet": dict(auc=0.9832, logloss=0.1941, stop_epoch=12, params=743_480),
    }
}

#: The BARS protocol shared by every model (FuxiCTR v1.1.0 ``BaseModel``: ``fit_generator``'s
#: ``max_gradient_norm=10.``, ``checkpoint_and_earlystop``'s ``min_delta=1e-6``, ``lr_decay``'s
#: factor and floor, ``reset_parameters``' Glorot-normal ``nn.Linear``). ``train.fit`` shares
#: these defaults except ``max_grad_norm`` (``None`` there: a general-purpose loop does not clip
#: unless asked), so they are passed explicitly here and written into every result file.
PROTOCOL = dict(
    embed_dim=10,
    batch_size=4096,
    lr=1e-3,
    patience=2,
    lr_decay=0.1,
    min_lr=1e-6,
    min_delta=1e-6,
    max_grad_norm=10.0,
    linear_init="glorot_normal",
)
DATA_SEED = 2021  # the seed of Frappe_x1's rebuilt training negatives (fixed across model seeds)


def _versions() -> dict[str, str]:
    import pandas
    import sklearn

    return dict(
        python=platform.python_version(),
        torch=torch.__version__,
        numpy=np.__version__,
        pandas=pandas.__version__,
        sklearn=sklearn.__version__,
        ctr_helpers=ctr_helpers.__version__,
    )


def _machine(device: torch.device) -> dict:
    info = dict(
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        device=str(device),
    )
    try:
        with open("/proc/cpuinfo") as f:
            names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
        if names:
            info["cpu"] = names[0]
    except OSError:
        pass
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _write_atomic(path: Path, write) -> None:
    """``write(tmp_path)``, then rename over ``path``: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def run_one(
    name: str,
    ds: CTRDataset,
    seed: int,
    *,
    epochs: int = 100,
    device: str | torch.device = "cpu",
    progress: bool | None = None,
    command: str = "",
) -> dict:
    """Train model ``name`` on ``ds`` (a ``CTRDataset``) with ``seed`` under the BARS protocol and
    return the result record (what the JSON file holds). Raises if training fails or diverges."""
    from ctr_helpers.models import MODELS, get_model

    device = torch.device(device)
    T.seed_everything(seed)
    model = get_model(
        name, ds.field_dims, embed_dim=PROTOCOL["embed_dim"], linear_init=PROTOCOL["linear_init"]
    )
    regs = dict(MODELS[name].bars)
    t0 = time.perf_counter()
    hist = T.fit(
        model,
        ds.train,
        ds.val,
        epochs=epochs,
        batch_size=PROTOCOL["batch_size"],
        lr=PROTOCOL["lr"],
        emb_reg=regs.get("emb_reg", 0.0),
        net_reg=regs.get("net_reg", 0.0),
        patience=PROTOCOL["patience"],
        lr_decay=PROTOCOL["lr_decay"],
        min_lr=PROTOCOL["min_lr"],
        min_delta=PROTOCOL["min_delta"],
        max_grad_norm=PROTOCOL["max_grad_norm"],
        seed=seed,
        progress=progress,
        device=device,
    )
    train_seconds = time.perf_counter() - t0
    test = T.evaluate(model, ds.test, precision=hist.precision)
    wall = time.perf_counter() - t0
    if not all(np.isfinite(v) for v in test.values()):
        raise FloatingPointError(f"{name} seed {seed}: non-finite test metrics {test}")
    return _record(
        name,
        ds,
        seed,
        model,
        regs,
        hist,
        test,
        epochs=epochs,
        wall=wall,
        train_seconds=train_seconds,
        device=device,
        command=command,
    )


def _record(
    name, ds, seed, model, regs, hist, test, *, epochs, wall, train_seconds, device, command
) -> dict:
    """The result record of one run: metrics, protocol, history and provenance."""
    from ctr_helpers.models import count_parameters

    return dict(
        dataset=getattr(ds, "name", "frappe"),
        model=name,
        model_class=type(model).__name__,
        seed=seed,
        data_seed=DATA_SEED,
        test_auc=test["auc"],
        test_logloss=test["logloss"],
        best_epoch=hist.best_epoch,
        best_val_auc=hist.best_val_auc,
        epochs_run=len(hist.epochs),
        stopped_early=hist.stopped_early,
        epochs_cap=epochs,
        wall_seconds=wall,
        train_seconds=train_seconds,
        parameters=count_parameters(model),
        config=dict(
            PROTOCOL,
            **regs,
            embedding_l2="whole table every batch (as BARS)",
            precision=hist.precision,
        ),
        history=hist.epochs,
        bars=BARS.get("frappe", {}).get(name),
        bars_source=BARS_SOURCE,
        versions=_versions(),
        machine=_machine(device),
        command=command,
        git_commit=_git_commit(),
        finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def load_results(path: str | os.PathLike = "data/results/frappe") -> pd.DataFrame:
    """Every ``*.json`` result under ``path`` as a DataFrame, one row per model and seed, with
    the BARS numbers beside ours (``bars_auc``, ``bars_logloss``) and ``label`` (class name)."""
    import pandas as pd

    rows = []
    for f in sorted(Path(path).glob("*.json")):
        r = json.loads(f.read_text())
        bars = r.get("bars") or {}
        rows.append(
            dict(
                model=r["model"],
                label=r.get("model_class", r["model"]),
                seed=r["seed"],
                test_auc=r["test_auc"],
                test_logloss=r["test_logloss"],
                best_epoch=r["best_epoch"],
                epochs_run=r["epochs_run"],
                wall_seconds=r["wall_seconds"],
                parameters=r["parameters"],
                bars_auc=bars.get("auc", np.nan),
                bars_logloss=bars.get("logloss", np.nan),
                bars_stop_epoch=bars.get("stop_epoch", np.nan),
            )
        )
    if not rows:
        raise FileNotFoundError(f"no result files (*.json) in {Path(path).resolve()}")
    order = {m: i for i, m in enumerate(BARS["frappe"])}
    df = pd.DataFrame(rows)
    df = df.sort_values(["model", "seed"], key=lambda s: s.map(order) if s.name == "model" else s)
    return df.reset_index(drop=True)


def summarize(results: pd.DataFrame) -> pd.DataFrame:
    """Per model: our mean and std over seeds (test AUC, logloss), the BARS numbers and our
    difference from them."""
    g = results.groupby("model", sort=False)
    out = g.agg(
        label=("label", "first"),
        seeds=("seed", "count"),
        auc_mean=("test_auc", "mean"),
        auc_std=("test_auc", "std"),
        logloss_mean=("test_logloss", "mean"),
        logloss_std=("test_logloss", "std"),
        bars_auc=("bars_auc", "first"),
        bars_logloss=("bars_logloss", "first"),
        best_epoch=("best_epoch", "mean"),
        wall_seconds=("wall_seconds", "mean"),
    )
    out["auc_diff"] = out["auc_mean"] - out["bars_auc"]
    out["logloss_diff"] = out["logloss_mean"] - out["bars_logloss"]
    return out


def draw_figure(result_dir: Path) -> Path | None:
    """Redraw ``auc_logloss.png`` in ``result_dir`` from its result files; None if there are none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ctr_helpers.plots import benchmark_bars, set_style

    try:
        df = load_results(result_dir)
    except FileNotFoundError:
        return None
    set_style()
    n_seeds = df.groupby("model")["seed"].nunique().max()
    fig = benchmark_bars(
        df,
        BARS["frappe"],
        title=f"Frappe_x1 test metrics: ours ({n_seeds} seed(s)) beside BARS",
    )
    path = result_dir / "auc_logloss.png"
    _write_atomic(path, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return path


def _parser() -> argparse.ArgumentParser:
    from ctr_helpers.models import MODELS

    ap = argparse.ArgumentParser(
        prog="python -m ctr_helpers.bench",
        description="Train models under the BARS protocol and compare with the leaderboard.",
    )
    ap.add_argument("dataset", choices=["frappe"])
    ap.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated model keys (default: all: {','.join(MODELS)})",
    )
    ap.add_argument("--seeds", type=int, nargs="+", default=[2021])
    ap.add_argument("--epochs", type=int, default=100, help="epoch cap (BARS: 100)")
    ap.add_argument(
        "--out",
        default="data/results",
        help="results folder (default data/results, where the committed results are: "
        "pass another folder to keep them)",
    )
    ap.add_argument("--data-home", default=None, help="data home (default: $CTR_DATA_HOME)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    ap.add_argument("--no-figure", action="store_true", help="do not redraw the figure")
    return ap


def _run_and_save(name: str, ds, seed: int, path: Path, args, command: str) -> bool:
    """One run; its JSON written atomically only on success. False (and a traceback) on failure."""
    print(f"[bench] {name} seed {seed} ...", file=sys.stderr, flush=True)
    try:
        rec = run_one(name, ds, seed, epochs=args.epochs, device=args.device, command=command)
    except Exception:  # a failed run must not stop the others or touch a good result
        traceback.print_exc()
        return False
    text = json.dumps(rec, indent=1)
    _write_atomic(path, lambda tmp: tmp.write_text(text + "\n"))
    print(
        f"[bench] {name} seed {seed}: test AUC {rec['test_auc']:.4f} "
        f"(BARS {(rec['bars'] or {}).get('auc', float('nan')):.4f}), logloss "
        f"{rec['test_logloss']:.4f}, best epoch {rec['best_epoch']}, "
        f"{rec['wall_seconds']:.0f} s -> {path}",
        file=sys.stderr,
        flush=True,
    )
    return True


def main(argv: list[str] | None = None) -> int:
    from ctr_helpers.models import MODELS

    ap = _parser()
    args = ap.parse_args(argv)
    names = [m.strip().lower() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODELS]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; valid: {', '.join(MODELS)}")
    result_dir = Path(args.out) / args.dataset
    try:  # before any training: a bad --out must not cost a whole run
        result_dir.mkdir(parents=True, exist_ok=True)
        if not os.access(result_dir, os.W_OK):
            raise PermissionError(13, "not writable")
    except OSError as e:
        ap.error(
            f"--out {args.out}: cannot write results to {result_dir} ({e.strerror}); "
            "--out names a folder (results go to <out>/<dataset>/<model>_seed<seed>.json)"
        )
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    command = "python -m ctr_helpers.bench " + " ".join(
        sys.argv[1:] if argv is None else list(argv)
    )

    from ctr_helpers.data import load_frappe

    ds = load_frappe(args.data_home, seed=DATA_SEED)
    failures = [
        (name, seed)
        for name in names
        for seed in args.seeds
        if not _run_and_save(name, ds, seed, result_dir / f"{name}_seed{seed}.json", args, command)
    ]
    if not args.no_figure:
        fig_path = draw_figure(result_dir)
        if fig_path:
            print(f"[bench] figure -> {fig_path}", file=sys.stderr)
    if failures:
        print(f"[bench] FAILED (no file written): {failures}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
