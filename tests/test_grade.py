"""Tests of the headless grader on doctored notebooks (tests/fixtures/grading/)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from ctr_helpers.grade import (
    CSV_COLUMNS,
    expected_questions,
    find_notebooks,
    main,
    parse_submission,
    run_notebook,
)

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
SUBMISSIONS = FIXTURES / "submissions"


@pytest.fixture(scope="module")
def demo_path():
    """Make the test-only ``demo_exercises`` package importable here and in the kernels."""
    mp = pytest.MonkeyPatch()
    mp.syspath_prepend(str(FIXTURES))
    mp.setenv("PYTHONPATH", str(FIXTURES.resolve()))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def graded(demo_path, tmp_path_factory):
    """Grade every doctored submission once: the hanging one with a short timeout."""
    out = tmp_path_factory.mktemp("grades")
    others = [str(SUBMISSIONS / s) for s in ("alice", "bob", "carol", "erin")]
    args = ["--exercises", "demo_exercises", "--quiet"]
    assert main([*others, "--out", str(out / "a.csv"), "--timeout", "120", *args]) == 0
    hang = str(SUBMISSIONS / "dave" / "99_demo.ipynb")
    assert main([hang, "--out", str(out / "b.csv"), "--timeout", "8", *args]) == 0
    rows = []
    for name in ("a.csv", "b.csv"):
        with (out / name).open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            assert reader.fieldnames == CSV_COLUMNS
            rows += list(reader)
    return {(r["student"], r["question"]): r for r in rows}


def test_all_correct(graded):
    for q in ("q1", "q2"):
        row = graded["alice", q]
        assert (row["verdict"], row["notebook_status"], row["error"]) == ("correct", "ok", "")
        assert row["notebook"] == "99_demo.ipynb"
    assert graded["alice", "q1"]["hints"] == "1"


def test_wrong_answer_is_incorrect_with_the_teaching_message(graded):
    row = graded["bob", "q1"]
    assert row["verdict"] == "incorrect"
    assert "exactly 2x" in row["message"]
    assert graded["bob", "q2"]["verdict"] == "correct"


def test_exceptions_are_verdicts_and_later_checks_still_run(graded):
    row = graded["carol", "q1"]
    assert row["verdict"] == "incorrect"
    assert row["message"] == "your code raised ValueError: x must be a list"
    assert row["notebook_status"] == "cell errors"
    assert "cell 4 (`print(1 / 0)`): ZeroDivisionError" in row["error"]
    assert graded["carol", "q2"]["verdict"] == "correct"  # the cell after the error ran
    assert graded["carol", "q2"]["solution_viewed"] == "1"


def test_infinite_loop_times_out_and_keeps_earlier_verdicts(graded):
    assert graded["dave", "q1"]["verdict"] == "correct"
    row = graded["dave", "q2"]
    assert (row["verdict"], row["notebook_status"]) == ("missing", "timeout")
    assert "timed out after 8 s in cell 4 (`while True:`)" in row["error"]
    assert float(row["seconds"]) < 30


def test_deleted_cell_is_missing_and_starter_is_not_yet(graded):
    assert graded["erin", "q1"]["verdict"] == "not_yet"
    row = graded["erin", "q2"]
    assert (row["verdict"], row["checks"], row["notebook_status"]) == ("missing", "0", "ok")
    assert "deleted" in row["message"]


def test_broken_files_are_rows_not_crashes(tmp_path, capsys):
    (tmp_path / "zed").mkdir()
    (tmp_path / "zed" / "98_nothing.ipynb").write_text("{not json", encoding="utf-8")
    out = tmp_path / "g.csv"
    assert main([str(tmp_path), "--out", str(out), "--quiet"]) == 0
    (row,) = csv.DictReader(out.open(encoding="utf-8"))
    assert (row["student"], row["notebook"], row["question"]) == ("zed", "98_nothing.ipynb", "")
    assert row["notebook_status"] == "unreadable" and "JSON" in row["error"]
    assert "1 rows for 1 students" in capsys.readouterr().out


def test_unknown_kernel_is_a_failed_status():
    run = run_notebook(SUBMISSIONS / "alice" / "99_demo.ipynb", kernel_name="no-such-kernel")
    assert run.status == "failed" and "no-such-kernel" in run.error


def test_parse_submission_layouts():
    assert parse_submission("subs/alice/02_factorization_machines.ipynb") == ("alice", "02")
    assert parse_submission("subs/bob_smith_10_training.ipynb") == ("bob_smith", "10")
    assert parse_submission("subs/carol/notes.ipynb") == ("carol", None)


def test_find_notebooks_skips_checkpoints(tmp_path):
    shutil.copytree(SUBMISSIONS / "alice", tmp_path / "alice")
    ckpt = tmp_path / "alice" / ".ipynb_checkpoints"
    ckpt.mkdir()
    (ckpt / "99_demo-checkpoint.ipynb").write_text("{}", encoding="utf-8")
    assert find_notebooks([tmp_path]) == [tmp_path / "alice" / "99_demo.ipynb"]
    with pytest.raises(FileNotFoundError, match="not a notebook"):
        find_notebooks([tmp_path / "nothing.txt"])


def test_expected_questions(demo_path):
    assert expected_questions("99", "demo_exercises") == ["q1", "q2"]
    assert expected_questions("42", "demo_exercises") == []  # no module: nothing expected
    assert expected_questions(None) == []
