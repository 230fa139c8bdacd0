"""A smoke run of ``benchmarks/speed.py``: the script runs end to end and prints one table row per
model, with the naive style beside the models that have one. Nothing about speed is asserted
here (performance lives in the benchmark's own output, see ``benchmarks/README.md``)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch

SPEED = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"
RATE = r"([\d,.]+k?)"  # fmt_rate: "737", "13.6k", "4,602k"


@pytest.fixture
def speed():
    spec = importlib.util.spec_from_file_location("speed_script", SPEED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    yield module
    torch.set_num_threads(threads)  # main() sets the thread count


def test_quick_run_prints_one_row_per_model(speed, capsys):
    models = ["lr", "ffm", "fibinet"]
    argv = ["--quick", "--shape", "frappe", "--models", ",".join(models), "--threads", "1"]
    assert speed.main(argv) == 0
    out = capsys.readouterr().out
    summary = out[out.rindex("# ctr_helpers speed") :]  # the table printed at the end
    assert re.search(r"float32 matmul ceiling .*: \d+ GFLOP/s", summary)
    for name in models:
        row = re.search(rf"^\| {name} \| {RATE} \| {RATE} \| (.*)$", summary, re.M)
        assert row, f"no table row for {name} in:\n{summary}"
        train, infer = (float(v.replace(",", "").rstrip("k")) for v in row.groups()[:2])
        assert train > 0 and infer > 0
        naive = row.group(3).split("|")[2].strip()
        if name in speed.NAIVE_MODELS:
            assert re.fullmatch(RATE, naive), f"{name}: naive column {naive!r}"
        else:
            assert naive == "—"


def test_unknown_model_is_refused(speed):
    with pytest.raises(SystemExit):
        speed.main(["--quick", "--models", "lr,nosuchmodel"])


def test_peer_figures_match_peers_md(speed):
    """``PEERS`` in speed.py and the tables of benchmarks/peers.md (the figures the notebooks cite)
    hold the same numbers, so neither drifts from the other."""
    text = (SPEED.parent / "peers.md").read_text()
    sections = {"frappe": "## Frappe shape", "criteo": "## Criteo shape"}
    for shape, heading in sections.items():
        block = text[text.index(heading) :].split("\n## ")[0]
        rows = {}
        for line in block.splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 7 and cells[0] in speed.PEERS[shape]:
                values = [None if c == "—" else float(c) for c in cells[1:]]
                rows[cells[0]] = [
                    None if values[i] is None else (values[i], values[i + 1]) for i in (0, 2, 4)
                ]
        assert rows == speed.PEERS[shape], shape
