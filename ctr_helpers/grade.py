"""Headless grading of learners' notebooks: run each one on a fresh kernel, collect the verdicts.

Usage::

    python -m ctr_helpers.grade submissions/ --out grades.csv [--timeout 300]
    python -m ctr_helpers.grade submissions/alice/02_factorization_machines.ipynb ... --out g.csv

``SUBMISSIONS`` are notebooks or folders (searched recursively for ``*.ipynb``, checkpoints
skipped). Who and which notebook, from the path:

- ``submissions/<student>/NN_name.ipynb``: the student is the parent folder's name;
- ``submissions/<student>_NN_name.ipynb``: the student is the part of the file name before ``NN_``.

``NN`` (two digits) picks the exercise module ``ctr_helpers.exercises.exNN``; the questions it
expects are that module's ``QUESTIONS`` list if it has one, else every ``Question`` object in it,
in definition order (``--exercises PACKAGE`` points at another package, e.g. a test one). A
notebook whose module does not exist (notebook 00) is still run and reported.

Each notebook runs top to bottom on a fresh ``python3`` kernel (nbclient), with the notebook's folder
as the working directory and ``allow_errors=True``, so a learner's exception in one cell is
recorded and the later checks still run. ``--timeout`` bounds the whole notebook; past it the
kernel is killed and the checks not reached are ``missing``. Inside the kernel every
``Question.check`` appends its verdict to the file named by ``CTR_GRADE_LOG`` (set here).

The CSV has one row per student, notebook and expected question (plus any other question the
notebook checked), with the columns ``CSV_COLUMNS``:

- ``verdict``: ``correct`` / ``incorrect`` / ``not_yet`` (the last check of that question), or
  ``missing`` (never checked: cell deleted, or the notebook stopped first);
- ``checks``, ``hints``: how many times ``check`` / ``hint`` were called; ``solution_viewed``: 0/1;
- ``notebook_status``: ``ok``, ``cell errors``, ``timeout``, ``kernel died``, ``failed`` (kernel did
  not start) or ``unreadable`` (not a notebook); ``error`` says what and where;
- a notebook with no expected and no checked question gets one row with an empty ``question``.

The recording trusts the notebook: a learner could write the log file directly. Use it for
feedback at scale, not for high-stakes marks.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import math
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ctr_helpers.exercises._core import GRADE_LOG_ENV, Question

__all__ = [
    "CSV_COLUMNS",
    "NotebookRun",
    "expected_questions",
    "find_notebooks",
    "grade",
    "main",
    "parse_submission",
    "run_notebook",
    "write_csv",
]

CSV_COLUMNS = [
    "student",
    "notebook",
    "question",
    "verdict",
    "message",
    "checks",
    "hints",
    "solution_viewed",
    "notebook_status",
    "error",
    "seconds",
]
_NAME_RE = re.compile(r"^(?:(?P<student>.+?)_)?(?P<number>\d{2})_.+$")


# --------------------------------------------------------------------------- locating work
def find_notebooks(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The notebooks named by ``paths`` (files, or folders searched recursively), sorted."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found += [nb for nb in p.rglob("*.ipynb") if ".ipynb_checkpoints" not in nb.parts]
        elif p.suffix == ".ipynb" and p.is_file():
            found.append(p)
        else:
            raise FileNotFoundError(f"{p}: not a notebook (.ipynb) or a folder of notebooks")
    return sorted(set(found))


def parse_submission(path: str | os.PathLike) -> tuple[str, str | None]:
    """``(student, NN)`` from a submission path; ``NN`` is None when the name has no number."""
    path = Path(path)
    m = _NAME_RE.match(path.stem)
    if m is None:
        return path.parent.name or path.stem, None
    return m["student"] or path.parent.name or path.stem, m["number"]


def expected_questions(number: str | None, package: str = "ctr_helpers.exercises") -> list[str]:
    """Names of the questions that notebook ``NN`` should check (``[]`` if it has no module)."""
    if number is None:
        return []
    name = f"{package}.ex{number}"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name in (name, package) or name.startswith(f"{exc.name}."):
            return []
        raise
    questions = getattr(module, "QUESTIONS", None)
    if questions is None:
        questions = [v for v in vars(module).values() if isinstance(v, Question)]
    return list(dict.fromkeys(q.name if isinstance(q, Question) else str(q) for q in questions))


# --------------------------------------------------------------------------- running one notebook
@dataclass
class NotebookRun:
    """What happened when one notebook ran: status, error text, recorded events, seconds."""

    status: str
    error: str = ""
    events: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _cell_label(index: int, cell) -> str:
    lines = [ln.strip() for ln in cell.source.splitlines() if ln.strip()]
    code = [ln for ln in lines if not ln.startswith("#")]  # skip "# NBVAL_..." markers
    first = (code or lines or [""])[0]
    if len(first) > 40:
        first = first[:37] + "..."
    return f"cell {index + 1} (`{first}`)" if first else f"cell {index + 1}"


def _cell_errors(nb) -> list[str]:
    errors = []
    for index, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                value = " ".join(str(out.get("evalue", "")).split())[:200]
                errors.append(f"{_cell_label(index, cell)}: {out.get('ename')}: {value}")
    return errors


def _read_events(log_path: Path) -> list[dict]:
    events = []
    if log_path.exists():
        for line in log_path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and "question" in event:
                events.append(event)
    return events


def run_notebook(
    path: str | os.PathLike, *, timeout: float = 300, kernel_name: str = "python3"
) -> NotebookRun:
    """Execute ``path`` on a fresh kernel (cwd = its folder) and collect the recorded events.

    Never raises for a learner's problem: errors, a timeout, a dead kernel or an unreadable file
    become ``NotebookRun.status`` / ``.error``.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    path = Path(path)
    start = time.monotonic()
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:
        return NotebookRun("unreadable", f"{type(exc).__name__}: {exc}")

    with tempfile.TemporaryDirectory(prefix="ctr-grade-") as tmp:
        log_path = Path(tmp) / "verdicts.jsonl"
        env = {**os.environ, GRADE_LOG_ENV: str(log_path), "PYTHONUNBUFFERED": "1"}
        client = NotebookClient(
            nb,
            timeout=max(1, math.ceil(timeout)),
            allow_errors=True,
            kernel_name=kernel_name,
            shutdown_kernel="immediate",
            record_timing=False,
            extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no TCP/encryption banner
            resources={"metadata": {"path": str(path.parent.resolve())}},
        )
        status, error = "ok", ""
        deadline = start + timeout
        index = -1
        try:
            client.reset_execution_trackers()
            with client.setup_kernel(env=env):
                for index, cell in enumerate(nb.cells):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise CellTimeoutError(f"notebook timeout before cell {index + 1}")
                    client.timeout = max(1, math.ceil(remaining))
                    client.execute_cell(cell, index, execution_count=client.code_cells_executed + 1)
        except CellTimeoutError:
            where = _cell_label(index, nb.cells[index]) if index >= 0 else "startup"
            status, error = "timeout", f"timed out after {timeout:g} s in {where}"
        except DeadKernelError:
            where = _cell_label(index, nb.cells[index]) if index >= 0 else "startup"
            status, error = "kernel died", f"the kernel died in {where}"
        except Exception as exc:
            where = f" in {_cell_label(index, nb.cells[index])}" if index >= 0 else ""
            status, error = "failed", f"{type(exc).__name__}{where}: {exc}"
        if status == "ok":
            cell_errors = _cell_errors(nb)
            if cell_errors:
                status, error = "cell errors", "; ".join(cell_errors)
        events = _read_events(log_path)
    return NotebookRun(status, " ".join(error.split()), events, time.monotonic() - start)


# --------------------------------------------------------------------------- rows and CSV
def _rows_for(student: str, notebook: str, expected: Sequence[str], run: NotebookRun) -> list[dict]:
    checked: dict[str, dict] = {}
    for event in run.events:
        q = str(event["question"])
        info = checked.setdefault(q, {"checks": 0, "hints": 0, "solution": 0, "last": None})
        kind = event.get("event", "check")
        if kind == "check":
            info["checks"] += 1
            info["last"] = event
        elif kind == "hint":
            info["hints"] += 1
        elif kind == "solution":
            info["solution"] = 1
    stopped = run.status in ("timeout", "kernel died", "failed", "unreadable")
    base = dict(
        student=student,
        notebook=notebook,
        notebook_status=run.status,
        error=run.error,
        seconds=f"{run.seconds:.1f}",
    )
    rows = []
    for q in list(dict.fromkeys([*expected, *checked])):
        info = checked.get(q, {"checks": 0, "hints": 0, "solution": 0, "last": None})
        last = info["last"]
        if last is not None:
            verdict, message = last.get("verdict", ""), last.get("message", "")
        else:
            verdict = "missing"
            message = (
                f"never checked: the notebook stopped first ({run.status})"
                if stopped
                else "never checked: the check cell was deleted or does not call check"
            )
        rows.append(
            dict(
                base,
                question=q,
                verdict=verdict,
                message=message,
                checks=info["checks"],
                hints=info["hints"],
                solution_viewed=info["solution"],
            )
        )
    if not rows:
        rows.append(
            dict(base, question="", verdict="", message="", checks=0, hints=0, solution_viewed=0)
        )
    return rows


def grade(
    paths: Iterable[str | os.PathLike],
    *,
    timeout: float = 300,
    exercises: str = "ctr_helpers.exercises",
    kernel_name: str = "python3",
    progress: bool = True,
) -> list[dict]:
    """Run every submitted notebook and return the CSV rows (dicts keyed by ``CSV_COLUMNS``)."""
    from tqdm.auto import tqdm

    notebooks = find_notebooks(paths)
    plan = []
    for nb_path in notebooks:  # import every exercise module first: instructor errors fail fast
        student, number = parse_submission(nb_path)
        plan.append((nb_path, student, expected_questions(number, exercises)))
    rows: list[dict] = []
    bar = tqdm(plan, desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
    for nb_path, student, expected in bar:
        bar.set_postfix_str(f"{student}/{nb_path.name}")
        run = run_notebook(nb_path, timeout=timeout, kernel_name=kernel_name)
        rows += _rows_for(student, nb_path.name, expected, run)
    return rows


def write_csv(rows: Sequence[dict], out: str | os.PathLike) -> Path:
    """Write ``rows`` to ``out`` with the ``CSV_COLUMNS`` header; returns the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 when every notebook was graded)."""
    parser = argparse.ArgumentParser(
        prog="python -m ctr_helpers.grade",
        description="Run learners' notebooks headless and write one CSV row per exercise.",
    )
    parser.add_argument("submissions", nargs="+", help="notebooks or folders of notebooks")
    parser.add_argument("--out", default="grades.csv", help="CSV file to write (grades.csv)")
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds allowed per notebook (300)"
    )
    parser.add_argument(
        "--exercises",
        default="ctr_helpers.exercises",
        help="package holding the exNN question modules (ctr_helpers.exercises)",
    )
    parser.add_argument("--kernel", default="python3", help="Jupyter kernel name (python3)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        rows = grade(
            args.submissions,
            timeout=args.timeout,
            exercises=args.exercises,
            kernel_name=args.kernel,
            progress=not args.quiet,
        )
    except FileNotFoundError as exc:
        parser.error(str(exc))
    out = write_csv(rows, args.out)
    counts: dict[str, int] = {}
    for row in rows:
        if row["question"]:
            counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "no questions"
    students = len({r["student"] for r in rows})
    print(f"{len(rows)} rows for {students} students -> {out} ({summary})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
