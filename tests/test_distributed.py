"""fit under torchrun: two CPU processes (gloo, sparse embedding gradients) end with the same
weights on both ranks and the AUC of the single-process run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

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


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    script = out / "train_tiny.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", TQDM_DISABLE="1")
    env.pop("WORLD_SIZE", None)
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    for cmd in (
        [sys.executable, str(script), str(out)],
        [*torchrun, "--nproc_per_node=2", str(script), str(out)],
    ):
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
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
