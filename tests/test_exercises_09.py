"""Checkers of notebook 09 (model comparison): accept the reference, reject the classic mistakes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _checks import assert_starters_are_not_yet
from _checks import verdict as _verdict

from ctr_helpers.exercises import ex09


def test_module_lists_its_questions():
    assert ex09.QUESTIONS == [ex09.q1, ex09.q2]


@pytest.mark.parametrize("question", ex09.QUESTIONS, ids=lambda q: q.name)
def test_starters_are_not_yet(question, capsys):
    assert_starters_are_not_yet(question, capsys)


# --------------------------------------------------------------------------- q1: RelaImpr
def test_q1_reference_values():
    assert ex09._rela_impr(0.75, 0.75) == 0.0
    assert math.isclose(ex09._rela_impr(0.9, 0.7), 1.0)  # lift 0.4 over lift 0.2: twice as good


def test_q1_accepts_reference_and_numpy(capsys):
    ok, line = _verdict(ex09.q1, ex09._rela_impr, capsys)
    assert ok and line.startswith("✅ Correct"), line
    assert "over LR" in line
    ok, line = _verdict(ex09.q1, lambda a, b: np.float64((a - 0.5) / (b - 0.5) - 1), capsys)
    assert ok, line


Q1_MISTAKES = {
    "raw ratio": (lambda a, b: a / b - 1, "AUC 0.5 is random guessing"),
    "percent": (lambda a, b: 100 * ((a - 0.5) / (b - 0.5) - 1), "percentage"),
    "no minus one": (lambda a, b: (a - 0.5) / (b - 0.5), "subtract 1"),
    "swapped": (lambda a, b: (b - 0.5) / (a - 0.5) - 1, "swapped"),
    "difference": (lambda a, b: a - b, "absolute AUC difference"),
    "off": (lambda a, b: 0.1, "expected"),
    "tuple": (lambda a, b: (a, b), "return one number"),
}


@pytest.mark.parametrize("name", list(Q1_MISTAKES))
def test_q1_rejects_classic_mistakes(name, capsys):
    fn, fragment = Q1_MISTAKES[name]
    ok, line = _verdict(ex09.q1, fn, capsys)
    assert not ok and line.startswith("❌ Incorrect"), line
    assert fragment in line, line


# --------------------------------------------------------------------------- q2: seed noise
def test_q2_reference_on_obvious_cases():
    assert ex09._beyond_noise([0.90, 0.91, 0.90], [0.80, 0.81, 0.80])
    assert not ex09._beyond_noise([0.90, 0.91, 0.92], [0.91, 0.90, 0.92])


def test_q2_every_classic_mistake_fails_some_case():
    ref = [ex09._beyond_noise(a, b, z) for a, b, z in ex09._NOISE_CASES]
    patterns = []
    for i in range(len(ex09._noise_variants(*ex09._NOISE_CASES[0]))):
        v = [bool(ex09._noise_variants(a, b, z)[i][0]) for a, b, z in ex09._NOISE_CASES]
        assert v != ref, f"variant {i} answers every case like the reference"
        patterns.append(tuple(v))
    assert len(set(patterns)) == len(patterns), "two mistakes answer identically"


def test_q2_accepts_reference_and_a_statistics_version(capsys):
    ok, line = _verdict(ex09.q2, ex09._beyond_noise, capsys)
    assert ok and line.startswith("✅ Correct"), line

    import statistics

    def with_statistics(a, b, z=2.0):
        se = (statistics.variance(a) / len(a) + statistics.variance(b) / len(b)) ** 0.5
        return abs(statistics.mean(a) - statistics.mean(b)) > z * se

    ok, line = _verdict(ex09.q2, with_statistics, capsys)
    assert ok, line


def _se(a, b, ddof=1):
    a, b = np.asarray(a), np.asarray(b)
    return math.sqrt(a.var(ddof=ddof) / len(a) + b.var(ddof=ddof) / len(b))


def _gap(a, b):
    return abs(np.mean(a) - np.mean(b))


Q2_MISTAKES = {
    "ddof 0": (lambda a, b, z=2.0: bool(_gap(a, b) > z * _se(a, b, ddof=0)), "ddof=1"),
    "no /n": (
        lambda a, b, z=2.0: bool(_gap(a, b) > z * math.hypot(np.std(a, ddof=1), np.std(b, ddof=1))),
        "divide each variance by its number of seeds",
    ),
    "signed": (
        lambda a, b, z=2.0: bool(np.mean(a) - np.mean(b) > z * _se(a, b)),
        "absolute gap",
    ),
    "one model": (
        lambda a, b, z=2.0: bool(_gap(a, b) > z * np.std(a, ddof=1) / math.sqrt(len(a))),
        "only model A's noise",
    ),
    "added SEs": (
        lambda a, b, z=2.0: bool(
            _gap(a, b)
            > z * (np.std(a, ddof=1) / math.sqrt(len(a)) + np.std(b, ddof=1) / math.sqrt(len(b)))
        ),
        "standard errors do not add",
    ),
    "always True": (lambda a, b, z=2.0: True, "you returned True"),
    "numpy array": (lambda a, b, z=2.0: np.array([True, False]), "return a bool"),
    "a number": (lambda a, b, z=2.0: _gap(a, b), "return a bool"),
}


@pytest.mark.parametrize("name", list(Q2_MISTAKES))
def test_q2_rejects_classic_mistakes(name, capsys):
    fn, fragment = Q2_MISTAKES[name]
    ok, line = _verdict(ex09.q2, fn, capsys)
    assert not ok and line.startswith("❌ Incorrect"), line
    assert fragment in line, line
