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
