"""fit under torchrun: two CPU processes (gloo, sparse embedding gradients) end with the same
weights on both ranks and the AUC of the single-process run; a package model (DeepFM) trains the
same way and gets its own gradient setting back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import torch
    import torch.distributed as dist
    from torch import nn
    from ctr_helpers.train import evaluate, fit

    class TinyCTR(nn.Module):
        def __init__(self, field_dims, dim=4, hidden=16):
            super().__init__()
            offsets = torch.tensor([0, *np.cumsum(field_dims)[:-1].tolist()])
            self.register_buffer("offsets", offsets, persistent=False)
            n = int(sum(field_dims))
            self.linear = nn.Embedding(n, 1, sparse=True)
            self.emb = nn.Embedding(n, dim, sparse=True)
            self.mlp = nn.Sequential(nn.Linear(len(field_dims) * dim, hidden),
                                     nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(0.1),
                                     nn.Linear(hidden, 1))

        def forward(self, x):
            x = x + self.offsets
            return self.linear(x).sum((1, 2)) + self.mlp(self.emb(x).flatten(1)).squeeze(1)

    torch.set_num_threads(1)
    out = sys.argv[1]
    # Clicks from per-value effects plus one pairwise interaction: quick to learn to a plateau.
    g = torch.Generator().manual_seed(7)
    x = torch.randint(0, 12, (12000, 4), generator=g)
    w, inter = torch.randn(4, 12, generator=g), torch.randn(12, 12, generator=g)
    y = torch.bernoulli(torch.sigmoid(w.gather(1, x.T).sum(0) + inter[x[:, 0], x[:, 1]]), generator=g)
    torch.manual_seed(0)
    model = TinyCTR([12] * 4)
    hist = fit(model, (x[:9000], y[:9000]), (x[9000:10500], y[9000:10500]), epochs=15,
               batch_size=500, lr=0.03, seed=0, progress=False)
    rank = dist.get_rank() if dist.is_initialized() else 0
    world = dist.get_world_size() if dist.is_initialized() else 1
    torch.save(model.state_dict(), f"{out}/w{world}_rank{rank}.pt")
    test = evaluate(model, (x[10500:], y[10500:]))
    with open(f"{out}/w{world}_rank{rank}.json", "w") as f:
        json.dump(dict(test, best_epoch=hist.best_epoch, epochs=len(hist.epochs)), f)
    """
)


TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def _rank_logs(log_dir) -> str:
    """The end of each rank's stderr from a torchrun ``--log-dir`` (its own traceback or abort
    message; torchrun's summary only says that a rank died)."""
    parts = []
    for f in sorted(log_dir.glob("**/stderr.log")):
        parts.append(f"--- {f.relative_to(log_dir)}:\n{f.read_text(errors='replace')[-2000:]}")
    return "\n".join(parts)


def launch(text: str, out, *launchers: list[str]) -> None:
    """Write ``text`` to a script in ``out`` and run it with each launcher (``[]``: plain
    Python), one thread per process; each run must succeed.

    A torchrun run that fails is run once more, and the first failure (with every rank's
    stderr) is reported as a warning: gloo over loopback TCP has been seen to lose a rank on a
    loaded CI machine (a connection reset with no Python error in either rank). A second failure
    fails the test, with every rank's stderr in the message."""
    script = out / "script.py"
    script.write_text(text)
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    env.pop("WORLD_SIZE", None)
    for launcher in launchers:
        tries = 2 if launcher else 1
        for attempt in range(1, tries + 1):
            logs = out / f"logs_{attempt}"
            extra = ["--log-dir", str(logs), "--redirects", "2"] if launcher else []
            cmd = [*(launcher or [sys.executable]), *extra, str(script), str(out)]
            res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
            if res.returncode == 0:
                break
            report = res.stdout[-2000:] + res.stderr[-2000:] + "\n" + _rank_logs(logs)
            if attempt < tries:
                warnings.warn(
                    f"torchrun failed, running it again; the failure:\n{report}", stacklevel=2
                )
        assert res.returncode == 0, report


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    launch(SCRIPT, out, [], TORCHRUN)
    return out


def test_both_ranks_end_with_identical_weights(runs):
    w0 = torch.load(runs / "w2_rank0.pt")
    w1 = torch.load(runs / "w2_rank1.pt")
    assert w0.keys() == w1.keys()
    for k in w0:  # parameters and batch-norm statistics
        torch.testing.assert_close(w0[k], w1[k], rtol=0, atol=0, msg=k)
    r0 = json.loads((runs / "w2_rank0.json").read_text())
    r1 = json.loads((runs / "w2_rank1.json").read_text())
    assert r0 == r1


def test_two_processes_match_one(runs):
    one = json.loads((runs / "w1_rank0.json").read_text())
    two = json.loads((runs / "w2_rank0.json").read_text())
    assert one["auc"] > 0.7  # it learned something
    assert abs(one["auc"] - two["auc"]) < 0.01, (one, two)


def test_demo_entry_point_writes_a_summary(tmp_path, monkeypatch):
    pytest.importorskip("ctr_helpers.models")
    from ctr_helpers.train import _main

    monkeypatch.setenv("TQDM_DISABLE", "1")
    out = tmp_path / "demo.json"
    _main(["--demo", "--model", "lr", "--rows", "4000", "--epochs", "2", "--out", str(out)])
    summary = json.loads(out.read_text())
    assert summary["world_size"] == 1 and 0.5 < summary["test"]["auc"] <= 1


DEEPFM_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import torch
    import torch.distributed as dist
    from torch import nn
    from ctr_helpers import distributed
    from ctr_helpers.data import make_pairwise
    from ctr_helpers.models import get_model
    from ctr_helpers.train import fit

    torch.set_num_threads(1)
    out = sys.argv[1]
    ds = make_pairwise(4000, seed=5)
    wrap, at_wrap = distributed.wrap, []

    def recording_wrap(model, device):  # the tables' gradient setting DDP is built with
        at_wrap.append([m.sparse for m in model.modules() if isinstance(m, nn.Embedding)])
        return wrap(model, device)

    distributed.wrap = recording_wrap
    # "default": the model as built (dense), gloo's sparse all-reduce; "no_sparse_allreduce":
    # built sparse=True, on a group that cannot average sparse gradients (as NCCL)
    for label, sparse in (("default", False), ("no_sparse_allreduce", True)):
        if label == "no_sparse_allreduce":
            distributed.sparse_allreduce = lambda: False
        torch.manual_seed(0)
        model = get_model("deepfm", ds.field_dims, embed_dim=8, hidden=(32, 32), sparse=sparse)
        before = [m.sparse for m in model.modules() if isinstance(m, nn.Embedding)]
        hist = fit(model, ds.train, ds.val, epochs=2, batch_size=512, lr=3e-3, seed=0,
                   progress=False, precision="fp32")
        after = [m.sparse for m in model.modules() if isinstance(m, nn.Embedding)]
        rank, world = dist.get_rank(), dist.get_world_size()
        torch.save(model.state_dict(), f"{out}/{label}_rank{rank}.pt")
        with open(f"{out}/{label}_rank{rank}.json", "w") as f:
            json.dump(dict(world=world, before=before, after=after, at_wrap=at_wrap.pop(),
                           val_auc=[e["val_auc"] for e in hist.epochs]), f)
    """
)


@pytest.fixture(scope="module")
def deepfm_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_deepfm")
    launch(DEEPFM_SCRIPT, out, TORCHRUN)
    return out


@pytest.mark.parametrize(
    ("label", "own", "trained"),
    [("default", False, True), ("no_sparse_allreduce", True, False)],
)
def test_deepfm_under_ddp_identical_on_both_ranks_and_not_mutated(deepfm_runs, label, own, trained):
    """``own``: the tables' setting the model was built with, and has again after fit;
    ``trained``: the setting DDP was built with (sparse on gloo, dense without sparse
    all-reduce)."""
    w0 = torch.load(deepfm_runs / f"{label}_rank0.pt")
    w1 = torch.load(deepfm_runs / f"{label}_rank1.pt")
    assert w0.keys() == w1.keys() and any("running_mean" in k for k in w0)
    for k in w0:  # parameters and batch-norm statistics
        assert torch.equal(w0[k], w1[k]), k
    r0 = json.loads((deepfm_runs / f"{label}_rank0.json").read_text())
    r1 = json.loads((deepfm_runs / f"{label}_rank1.json").read_text())
    assert r0 == r1 and r0["world"] == 2 and len(r0["val_auc"]) == 2
    assert r0["at_wrap"] == [trained, trained]
    assert r0["before"] == r0["after"] == [own, own]
    assert r0["val_auc"][-1] > 0.6  # it learned something
