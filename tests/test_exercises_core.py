"""Tests of the exercise checkers: verdicts, teaching diagnostics, recording, notebook display."""

from __future__ import annotations

import json
import random

import nbformat
import numpy as np
import pytest
import torch

from ctr_helpers.exercises._core import (
    GRADE_LOG_ENV,
    CheckResult,
    Incorrect,
    NotYet,
    Question,
    Verdict,
    call,
    compare_outputs,
    correct,
    incorrect,
    isolated_rng,
    matches,
    not_yet,
)


def fm_reference(v: torch.Tensor) -> torch.Tensor:
    """[B, F, D] -> [B]: sum over field pairs of <v_i, v_j>, the O(F*D) way."""
    return 0.5 * (v.sum(1).pow(2) - v.pow(2).sum(1)).sum(1)


def fm_double_sum(v: torch.Tensor) -> torch.Tensor:
    """The obvious O(F^2 * D) version, written independently of fm_reference."""
    _, f, _ = v.shape
    total = torch.zeros(v.shape[0])
    for i in range(f):
        for j in range(i + 1, f):
            total = total + (v[:, i] * v[:, j]).sum(-1)
    return total


def _check_fm(fn):
    v = torch.randn(4, 3, 5)
    got = call(fn, v)
    if matches(got, 0.5 * (v.sum(2).pow(2) - v.pow(2).sum(2)).sum(1)):
        raise Incorrect("you summed over the embedding dim first: sum over fields (dim=1)")
    compare_outputs(got, fm_double_sum(v), what="your FM term")


Q_FM = Question(
    "q1", _check_fm, hint=["square of the sum", "minus the sum of squares"], solution=fm_reference
)
Q_COUNT = Question("q2", lambda n: compare_outputs(n, 45, what="your count"), solution="n = 45")


def _line(capsys) -> str:
    out = capsys.readouterr().out
    assert out.count("\n") == 1, f"expected exactly one printed line, got {out!r}"
    return out.rstrip("\n")


# --------------------------------------------------------------------------- Question.check
def test_reference_solution_is_correct(capsys):
    result = Q_FM.check(fm_reference)
    assert _line(capsys) == "✅ Correct"
    assert bool(result) and result == True  # noqa: E712 - CheckResult compares to bools
    assert isinstance(result, CheckResult) and result.status == "correct"


@pytest.mark.parametrize(
    "answer, start, phrase",
    [
        (lambda v: 2 * fm_reference(v), "❌ Incorrect:", "exactly 2x"),
        (lambda v: 0.5 * (v.sum(2).pow(2) - v.pow(2).sum(2)).sum(1), "❌ Incorrect:", "dim=1"),
        (lambda v: fm_reference(v)[:, None], "❌ Incorrect:", "shape (4, 1), expected (4,)"),
        (lambda v: torch.sigmoid(fm_reference(v)), "❌ Incorrect:", "sigmoid"),
        (
            lambda v: fm_reference(v).numpy(),
            "❌ Incorrect:",
            "numpy.ndarray, expected torch.Tensor",
        ),
        (lambda v: 1 / 0, "❌ Incorrect:", "your code raised ZeroDivisionError: division by zero"),
        (lambda v: None, "🤔 Not yet:", "forget to `return`"),
        (None, "🤔 Not yet:", "placeholder"),
        (..., "🤔 Not yet:", "placeholder"),
        (42, "❌ Incorrect:", "expected a function, got int"),
    ],
)
def test_wrong_answers_print_one_teaching_line(capsys, answer, start, phrase):
    result = Q_FM.check(answer)
    line = _line(capsys)
    assert line.startswith(start) and phrase in line, line
    assert not result


def test_starter_raising_not_implemented_is_not_yet(capsys):
    def fm(v):
        raise NotImplementedError

    assert not Q_FM.check(fm)
    assert _line(capsys).startswith("🤔 Not yet: your function still raises NotImplementedError")
    assert not Q_FM.check()
    assert _line(capsys) == "🤔 Not yet: pass your answer, e.g. q1.check(your_answer)"


def test_check_never_raises_even_on_base_exception_subclasses(capsys):
    class Weird(Exception):
        def __str__(self):
            raise RuntimeError("cannot even print me")

    def fm(v):
        raise Weird

    q = Question("q", lambda fn: fn(1))
    assert not q.check(fm)  # __str__ failing inside the message must not escape either
    assert _line(capsys).startswith("❌ Incorrect")


def test_messages_are_deterministic_one_liners(capsys):
    def fm(v):
        raise ValueError(f"bad object {object()}\nsecond line")

    Q_FM.check(fm)
    first = _line(capsys)
    Q_FM.check(fm)
    assert _line(capsys) == first
    assert "0x" not in first and first.endswith("bad object <object object> second line")


def test_check_function_return_styles(capsys):
    styles = {
        "none": (lambda a: None, "✅ Correct"),
        "str": (lambda a: "45 pairs", "✅ Correct: 45 pairs"),
        "true": (lambda a: True, "✅ Correct"),
        "false": (lambda a: False, "❌ Incorrect: not the expected answer"),
        "verdict": (lambda a: incorrect("off by one"), "❌ Incorrect: off by one"),
        "not_yet": (lambda a: not_yet("fill in n"), "🤔 Not yet: fill in n"),
        "correct": (lambda a: correct("well done"), "✅ Correct: well done"),
        "raise": (lambda a: (_ for _ in ()).throw(NotYet("later")), "🤔 Not yet: later"),
    }
    for name, (fn, expected) in styles.items():
        Question(name, fn).check(1)
        assert _line(capsys) == expected, name


def test_verdict_rejects_unknown_status():
    with pytest.raises(ValueError, match="status must be one of"):
        Verdict("maybe")
    with pytest.raises(ValueError, match="non-empty string"):
        Question("", lambda a: None)
    with pytest.raises(TypeError, match="check_fn must be callable"):
        Question("q", "not a function")


def test_numbers_and_counts(capsys):
    cases = [
        (45, "✅ Correct"),
        (45.0, "✅ Correct"),
        (np.int64(45), "✅ Correct"),
        (90, "exactly 2x"),
        (22.5, "exactly half"),
        (46, "largest difference 1 (got 46, expected 45)"),
        ("45", "has type str, expected int"),
        (torch.tensor(45), "use .item()"),
    ]
    for answer, phrase in cases:
        Q_COUNT.check(answer)
        assert phrase in _line(capsys), answer


# --------------------------------------------------------------------------- compare_outputs
@pytest.mark.parametrize(
    "got, phrase",
    [
        (np.array([1.0, np.nan, 3.0]), "contains NaN (1 of 3 values)"),
        (np.array([1.0, np.inf, 3.0]), "infinite values"),
        (np.array([-1.0, -2.0, -3.0]), "opposite sign"),
        (np.array([1.5, 2.5, 3.5]), "same constant 0.5"),
        (np.array([3.0, 6.0, 9.0]), "factor 3"),
        (np.array([1, 2, 3]), "integer dtype int64"),
        (np.array([[1.0, 2.0, 3.0]]), "reshape, squeeze or keepdim"),
        (np.array(6.0), "fewer dimensions"),
        (np.array([1.0, 2.0, 4.0]), "largest difference 1 at index (2,) (got 4, expected 3)"),
    ],
)
def test_compare_outputs_diagnostics(got, phrase):
    with pytest.raises(Incorrect, match=None) as info:
        compare_outputs(got, np.array([1.0, 2.0, 3.0]))
    assert phrase in str(info.value)


def test_compare_outputs_shapes_and_logits():
    with pytest.raises(Incorrect, match="transpose or permute"):
        compare_outputs(np.zeros((3, 2)), np.ones((2, 3)))
    with pytest.raises(Incorrect, match="extra trailing dimensions"):
        compare_outputs(np.zeros((4, 5)), np.ones(4))
    p = np.array([0.2, 0.5, 0.9])
    with pytest.raises(Incorrect, match="looks like logits"):
        compare_outputs(np.log(p / (1 - p)), p)
    with pytest.raises(NotYet, match="None"):
        compare_outputs(None, p)
    compare_outputs(p + 1e-7, p)  # within tolerance
    compare_outputs(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0], dtype=torch.float64))


def test_matches_never_raises():
    assert matches(torch.ones(3), np.ones(3))
    assert not matches(torch.ones(3), np.ones(4))
    assert not matches(object(), np.ones(3))
    assert matches("a", "a") and not matches("a", "b")


def test_call_copies_inputs_so_in_place_edits_cannot_fool_the_checker():
    x = torch.ones(3)

    def sneaky(t):
        t.zero_()
        return t

    assert call(sneaky, x).sum() == 0
    assert x.sum() == 3


# --------------------------------------------------------------------------- randomness
def test_checks_are_seeded_and_leave_global_random_state_alone():
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    before = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)
    draws = []
    q = Question("q", lambda a: draws.append(torch.randn(2).tolist()))
    q.verdict(1)
    q.verdict(1)
    assert draws[0] == draws[1]  # same inputs on every check
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == before
    with isolated_rng(seed=None):
        pass


# --------------------------------------------------------------------------- hints, solutions
def test_hints_are_revealed_one_by_one(capsys):
    q = Question("q", lambda a: None, hint=["first", "second"])
    q.hint()
    assert capsys.readouterr().out == "💡 Hint 1/2: first\n"
    q.hint()
    q.hint()
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "💡 Hint 1/2: first",
        "💡 Hint 2/2: second",
    ]
    Question("q", lambda a: None, hint="only").hint()
    assert capsys.readouterr().out == "💡 Hint: only\n"


def test_solution_shows_source_of_a_function_or_a_string(capsys):
    Q_FM.solution()
    out = capsys.readouterr().out
    assert out.startswith("💡 Solution:\ndef fm_reference(v")
    assert "v.sum(1).pow(2)" in out
    Q_COUNT.solution()
    assert capsys.readouterr().out == "💡 Solution:\nn = 45\n"
    assert repr(Q_FM) == "Question('q1')"


# --------------------------------------------------------------------------- recording
def test_recording_only_when_the_env_var_is_set(tmp_path, monkeypatch, capsys):
    log = tmp_path / "log.jsonl"
    monkeypatch.delenv(GRADE_LOG_ENV, raising=False)
    Q_COUNT.check(45)
    assert not log.exists()
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    Q_COUNT.check(45)
    Q_COUNT.check(90)
    Q_COUNT.hint()
    Q_COUNT.solution()
    events = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert [(e["question"], e["event"], e["verdict"]) for e in events] == [
        ("q2", "check", "correct"),
        ("q2", "check", "incorrect"),
        ("q2", "hint", ""),
        ("q2", "solution", ""),
    ]
    assert "2x" in events[1]["message"]
    monkeypatch.setenv(GRADE_LOG_ENV, str(tmp_path / "missing-dir" / "log.jsonl"))
    assert Q_COUNT.check(45)  # an unwritable log never breaks the notebook
    capsys.readouterr()


# --------------------------------------------------------------------------- in a real kernel
def test_in_a_notebook_the_check_cell_shows_only_the_verdict_line(tmp_path):
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from ctr_helpers.exercises._core import Question, compare_outputs\n"
            "q = Question('q', lambda n: compare_outputs(n, 45))"
        ),
        nbformat.v4.new_code_cell("q.check(45)"),
        nbformat.v4.new_code_cell("q.check(90)"),
    ]
    NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    outputs = [cell.outputs for cell in nb.cells[1:]]
    assert [[o.output_type for o in out] for out in outputs] == [["stream"], ["stream"]]
    assert outputs[0][0].text == "✅ Correct\n"
    assert outputs[1][0].text.startswith("❌ Incorrect: your result is exactly 2x")
