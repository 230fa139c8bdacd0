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

Each notebook runs top to bottom on a fresh ``python3`` kernel (nbclient) with
``allow_errors=True``, so a learner's exception in one cell is recorded and the later checks still
run. ``--timeout`` bounds the whole notebook; past it the kernel is killed and the checks not
reached are ``missing``. Inside the kernel every ``Question.check`` appends its verdict to the file
named by ``CTR_GRADE_LOG`` (set here), signed with a one-time key (below).

The CSV has one row per student, notebook and expected question (plus up to 20 other questions
the notebook checked), with the columns ``CSV_COLUMNS``:

- ``verdict``: ``correct`` / ``incorrect`` / ``not_yet`` (the last check of that question), or
  ``missing`` (never checked: cell deleted, or the notebook stopped first);
- ``checks``, ``hints``: how many times ``check`` / ``hint`` were called; ``solution_viewed``: 0/1;
- ``notebook_status``: ``ok``, ``cell errors``, ``timeout``, ``kernel died``, ``worker died`` (the
  notebook killed the process running it), ``failed`` (kernel did not start), ``unreadable`` (not a
  notebook) or ``not graded`` (an earlier notebook changed the checker files); ``error`` says what
  and where;
- a notebook with no expected and no checked question gets one row with an empty ``question``.

Isolation (one submission cannot harm the run or another submission):

- Every notebook is read into memory before the first one runs; each then runs from a private
  copy in a fresh ``mkdtemp`` folder (mode 0700, random name) that is the kernel's cwd, HOME and
  TMPDIR, with its own derived-data cache (``CTR_CACHE_DIR``), removed afterwards.
- The kernel's environment is built, not inherited: ``PATH``, ``LANG``/``LC_ALL``,
  ``TQDM_DISABLE``, ``PYTHONPATH`` (this package first), the course's ``CTR_DATA_HOME``,
  ``CTR_DATA_URL_BASE``, ``CTR_PRECISION``, ``CTR_MALLOC_TUNING`` and the grader's two variables.
  Nothing else of the grader's environment reaches the notebook (nor the worker below).
- A worker process in its own session runs nbclient, which starts the kernel; the grader only
  waits for it (``--timeout`` + 90 s at most) and reads its result file. A notebook that kills its
  parent kills the worker: that submission becomes ``worker died`` (verdicts recorded before the
  kill are kept) and the run goes on.
- Limits, inherited by the kernel: RLIMIT_AS (``--memory``), RLIMIT_FSIZE (``--file-size``) and,
  only when the grader is not root, RLIMIT_NPROC (``--processes`` above the user's running
  tasks; Linux does not apply it to root). Time: the notebook timeout, then the worker's.
- Nothing outlives its submission: the worker and the grader make themselves child subreapers
  (Linux ``PR_SET_CHILD_SUBREAPER``), so a daemon that double-forks and calls ``setsid`` is
  re-parented to them; after the notebook, the worker and then the grader SIGKILL every process
  descended from them (the worker's session included) until none is left, before the verdict log
  is read and before the next submission starts.
- Verdicts: the log has a random name in the private folder. At kernel start-up, before any
  notebook cell, ``_question._arm_grade_log`` reads a one-time 32-byte key from a file the grader
  wrote there and deletes it; each record carries an HMAC-SHA256 of its fields under that key.
  The grader counts only records whose HMAC matches (a regular file, at most 4 MiB and 10,000
  lines) and says in ``error`` how many lines it ignored. Printed output is never read.
- The sources of the checker packages (``ctr_helpers.exercises`` and ``--exercises``) and the
  ``*.pth`` / ``*customize.py`` start-up hooks of site-packages are hashed before the run and
  after each notebook: if one changed, that notebook's row says which file and every later
  notebook is ``not graded`` (not graded against a rewritten checker).
- CSV cells beginning with ``= + - @``, tab or CR get a leading ``'`` (OWASP CSV injection);
  messages and errors from the notebook are cut to ``MESSAGE_CHARS``.

What this does not stop. The kernel runs as the grader's own user (as root in the course
container): file permissions and RLIMIT_NPROC do not separate it from the grader, so

- a notebook can forge its *own* verdicts by subverting the checker in its own kernel:
  monkeypatching ``Question.check`` / ``check_fn``, or reading the key from
  ``ctr_helpers.exercises._question`` and signing lines. Only checks that run outside the
  learner's process (nbgrader's hidden tests, issue #19, still run in the kernel) would stop it;
  treat these marks as feedback, not as high-stakes grades;
- it can read and rewrite any file the grader's user can: the submissions folder (the run grades
  the copies read at start, but the files on disk change), the course data home, the grader's
  result file for its own run, other files of the instructor; and read the grader's own starting
  environment in ``/proc/<pid>/environ`` (the kernel's and the worker's are scrubbed); start the
  grader without secrets in its environment;
- it can signal, ptrace or otherwise attack the grader process itself (found through ``/proc``),
  or escape the process sweep by injecting code into a process outside the run: only a separate
  user or container per submission prevents that;
- the number of processes is not limited as root, only swept at the end; memory is limited per
  process, not in total; the disk, the network and the CPU are not limited.
For high stakes, run the grader in a throwaway container per class (or per submission), as an
unprivileged user that owns nothing else, with the submissions and data mounted read-only.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import hmac
import importlib
import importlib.util
import json
import math
import os
import re
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ctr_helpers.exercises._core import GRADE_LOG_ENV, Question
from ctr_helpers.exercises._question import GRADE_KEY_ENV

__all__ = [
    "CSV_COLUMNS",
    "Limits",
    "csv_cell",
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


@dataclass(frozen=True)
class Limits:
    """Per-submission resource limits (``0`` = no limit).

    ``memory``: RLIMIT_AS of the kernel, bytes; ``file_size``: RLIMIT_FSIZE, bytes;
    ``processes``: RLIMIT_NPROC, tasks (threads count) above those the grading user already runs;
    not applied when the grader runs as root, which the kernel ignores it for.
    """

    memory: int = 8 << 30
    file_size: int = 256 << 20
    processes: int = 256


MESSAGE_CHARS = 500
"""Longest message / error text kept in the CSV (text from a notebook is cut there)."""
_MAX_EVENTS = 10_000  # lines read from one verdict log
_MAX_LOG_BYTES = 4 << 20
_MAX_EXTRA_QUESTIONS = 20  # questions a notebook checked beyond the expected ones
_KERNEL_ENV = ("PATH", "LANG", "LC_ALL", "TQDM_DISABLE")
_COURSE_ENV = ("CTR_DATA_HOME", "CTR_DATA_URL_BASE", "CTR_PRECISION", "CTR_MALLOC_TUNING")
_ARM = "import ctr_helpers.exercises._question as _q; _q._arm_grade_log(); del _q"
_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37


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


def _short(text: object, limit: int = MESSAGE_CHARS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _read_events(log_path: Path, key: bytes | None = None) -> tuple[list[dict], int]:
    """The records of ``log_path`` whose HMAC matches ``key`` (all when ``key`` is None), and the
    number of lines rejected. Reads a regular file only (no FIFO, no symlink), at most 4 MiB."""
    from ctr_helpers.exercises._question import _record_mac

    try:
        fd = os.open(log_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return [], 0
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return [], 1
        data = f.read(_MAX_LOG_BYTES)
    events, rejected = [], 0
    for line in data.decode("utf-8", "replace").splitlines()[:_MAX_EVENTS]:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            rejected += 1
            continue
        if not isinstance(event, dict) or "question" not in event:
            rejected += 1
            continue
        fields = [str(event.get(k, "")) for k in ("question", "event", "verdict", "message")]
        if key is not None and not hmac.compare_digest(
            str(event.get("mac", "")), _record_mac(key, *fields)
        ):
            rejected += 1
            continue
        events.append(dict(zip(("question", "event", "verdict", "message"), fields, strict=True)))
    return events, rejected


# ----- processes: a subreaper adopts every orphan of the run, so nothing escapes the sweep
def _prctl(option: int, value: int = 0) -> int:
    """``prctl(option, value)`` on Linux; -1 elsewhere."""
    if not sys.platform.startswith("linux"):
        return -1
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if option == _PR_GET_CHILD_SUBREAPER:
        out = ctypes.c_int(0)
        return out.value if libc.prctl(option, ctypes.byref(out), 0, 0, 0) == 0 else -1
    return libc.prctl(option, value, 0, 0, 0)


def _process_table() -> dict[int, list[tuple[int, str]]]:
    """``{ppid: [(pid, state), ...]}`` from /proc."""
    table: dict[int, list[tuple[int, str]]] = {}
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            continue
        rest = text[text.rindex(")") + 2 :].split()
        table.setdefault(int(rest[1]), []).append((int(name), rest[0]))
    return table


def _descendants(roots: Iterable[int]) -> list[tuple[int, str]]:
    table, out, todo = _process_table(), [], list(roots)
    while todo:
        for pid, state in table.get(todo.pop(), []):
            out.append((pid, state))
            todo.append(pid)
    return out


def _kill_new_descendants(keep: set[int] = frozenset(), rounds: int = 200) -> int:
    """SIGKILL every descendant of this process except the children in ``keep`` (and theirs),
    reap the ones that became our children, until none is left; returns how many were killed."""
    me, killed = os.getpid(), set()
    for _ in range(rounds):
        kids = [pid for pid, _ in _process_table().get(me, []) if pid not in keep]
        tree = [(pid, "") for pid in kids] + _descendants(kids)
        for pid, state in tree:
            if state != "Z":
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                killed.add(pid)
        for pid in kids:  # orphans adopted by this subreaper, and our own dead children
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if not tree:
            break
        time.sleep(0.01)
    return len(killed)


def _user_tasks(uid: int) -> int:
    """Threads run by ``uid`` now (what RLIMIT_NPROC counts)."""
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError, ValueError):
                fields = dict(
                    ln.split(":", 1) for ln in Path(f"/proc/{name}/status").read_text().splitlines()
                )
                if int(fields["Uid"].split()[0]) == uid:
                    count += int(fields["Threads"])
    return count


def _apply_limits(limits: dict) -> None:
    import resource

    def lower(which: int, value: int) -> None:
        soft, hard = resource.getrlimit(which)
        if value and (hard == resource.RLIM_INFINITY or value < hard):
            resource.setrlimit(which, (value, value))

    lower(resource.RLIMIT_AS, int(limits["memory"]))
    lower(resource.RLIMIT_FSIZE, int(limits["file_size"]))
    if limits["processes"] and os.geteuid() != 0:  # root ignores RLIMIT_NPROC
        lower(resource.RLIMIT_NPROC, _user_tasks(os.getuid()) + int(limits["processes"]))


# ----- the worker: one process (own session) per submission, runs nbclient and the kernel
def _execute(spec: dict) -> tuple[str, str]:
    """Run the notebook copy named in ``spec`` on a fresh kernel; ``(status, error)``."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    timeout, start = float(spec["timeout"]), time.monotonic()
    try:
        nb = nbformat.read(spec["notebook"], as_version=4)
    except Exception as exc:
        return "unreadable", f"{type(exc).__name__}: {exc}"
    client = NotebookClient(
        nb,
        timeout=max(1, math.ceil(timeout)),
        allow_errors=True,
        kernel_name=spec["kernel_name"],
        shutdown_kernel="immediate",
        record_timing=False,
        # no TCP/encryption banner; arm the signed verdict log before any notebook cell
        extra_arguments=["--IPKernelApp.log_level=ERROR", f"--IPKernelApp.exec_lines={_ARM}"],
        resources={"metadata": {"path": spec["private"]}},
    )
    status, error, index = "ok", "", -1
    deadline = start + timeout
    try:
        client.reset_execution_trackers()
        with client.setup_kernel(env=spec["env"], cwd=spec["private"]):
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
    return status, error


def _worker_main(spec_path: str) -> int:
    """Entry point of the per-submission worker process (``grade`` starts it)."""
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)  # the kernel's orphans (daemons) become ours
    import nbclient  # noqa: F401  (imported before the memory limit)

    _apply_limits(spec["limits"])
    status, error = _execute(spec)
    _kill_new_descendants()
    result = json.dumps({"status": status, "error": _short(error, 4 * MESSAGE_CHARS)})
    Path(spec["result"]).write_text(result, encoding="utf-8")
    return 0


def _kernel_env(private: Path, log_path: Path, key_path: Path) -> dict[str, str]:
    """The kernel's whole environment: nothing else of the grader's reaches the notebook."""
    package_root = str(Path(__file__).resolve().parent.parent)
    entries = filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))
    pythonpath = [package_root, *map(os.path.abspath, entries)]  # the kernel's cwd is elsewhere
    env = {k: os.environ[k] for k in (*_KERNEL_ENV, *_COURSE_ENV) if k in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        HOME=str(private),
        TMPDIR=str(private),
        PYTHONPATH=os.pathsep.join(dict.fromkeys(pythonpath)),
        PYTHONUNBUFFERED="1",
        MPLBACKEND="agg",
        CTR_CACHE_DIR=str(private / ".cache"),  # derived caches: per submission, never shared
        JUPYTER_RUNTIME_DIR=str(private / ".jupyter"),
    )
    env[GRADE_LOG_ENV], env[GRADE_KEY_ENV] = str(log_path), str(key_path)
    return env


def run_notebook(
    path: str | os.PathLike,
    *,
    timeout: float = 300,
    kernel_name: str = "python3",
    limits: Limits = Limits(),
    source: bytes | None = None,
) -> NotebookRun:
    """Execute ``path`` (or its bytes ``source``, read earlier) in isolation; collect its events.

    A private 0700 copy (fresh ``mkdtemp``) is the kernel's cwd and HOME, with a scrubbed
    environment and the ``limits``; a worker process in its own session runs nbclient and the
    kernel; afterwards every process the run left is killed and the copy removed. Only records
    signed with this run's one-time key count. Never raises for a learner's problem: errors, a
    timeout, a dead kernel or worker, an unreadable file become ``NotebookRun.status``/``.error``.
    """
    path, start = Path(path), time.monotonic()
    source, problem = _notebook_source(path, source)
    if problem is not None:
        return problem
    key = secrets.token_bytes(32)
    subreaper = _prctl(_PR_GET_CHILD_SUBREAPER)
    if subreaper == 0:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)  # a killed worker's orphans come back to us
    keep = {pid for pid, _ in _process_table().get(os.getpid(), [])}
    private, own = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp())  # both 0700, random names
    try:
        spec = _write_spec(private, own, source, key, timeout, kernel_name, limits)
        rc = _run_worker(own, spec, timeout)
        _kill_new_descendants(keep)  # daemons, a kernel whose worker died: before reading logs
        status, error = _worker_outcome(own, rc, timeout)
        events, rejected = _read_events(Path(spec["env"][GRADE_LOG_ENV]), key)
        if Path(spec["key_path"]).exists() and status in ("ok", "cell errors", "timeout"):
            error += "; the verdict log was never armed in the kernel (no ctr_helpers there?)"
        if rejected:
            error += f"; {rejected} unsigned or altered verdict lines ignored"
    finally:
        if subreaper == 0:
            _prctl(_PR_SET_CHILD_SUBREAPER, 0)
        for folder in (private, own):
            shutil.rmtree(folder, ignore_errors=True)
    return NotebookRun(
        status, _short(error.strip("; "), 4 * MESSAGE_CHARS), events, time.monotonic() - start
    )


def _notebook_source(path: Path, source: bytes | None) -> tuple[bytes, NotebookRun | None]:
    """The notebook's bytes (read now unless given), or the ``unreadable`` run they make."""
    if source is None:
        try:
            source = path.read_bytes()
        except OSError as exc:
            return b"", NotebookRun("unreadable", f"{type(exc).__name__}: {exc}")
    try:
        import nbformat

        nbformat.reads(source.decode("utf-8"), as_version=4)
    except Exception as exc:
        return b"", NotebookRun("unreadable", _short(f"{type(exc).__name__}: {exc}"))
    return source, None


def _write_spec(
    private: Path,
    own: Path,
    source: bytes,
    key: bytes,
    timeout: float,
    kernel_name: str,
    limits: Limits,
) -> dict:
    """The private copy, the one-time key file (0600) and the worker's ``spec.json`` in ``own``."""
    notebook = private / "notebook.ipynb"
    notebook.write_bytes(source)
    log_path = private / f"{secrets.token_hex(8)}.jsonl"
    key_path = private / f"{secrets.token_hex(8)}.key"
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    spec = dict(
        notebook=str(notebook),
        private=str(private),
        timeout=timeout,
        kernel_name=kernel_name,
        env=_kernel_env(private, log_path, key_path),
        limits=vars(limits),
        result=str(own / "result.json"),
    )
    (own / "spec.json").write_text(json.dumps(spec), encoding="utf-8")
    return {**spec, "key_path": str(key_path)}


def _run_worker(own: Path, spec: dict, timeout: float) -> int | None:
    """Run the worker in its own session; its exit code, or None when it outlived its bound.
    Its whole process group is killed afterwards."""
    worker_env = {**spec["env"], "HOME": str(own), "TMPDIR": str(own)}
    worker_env.pop(GRADE_KEY_ENV)
    with (own / "worker.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CMD, str(own / "spec.json")],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=own,
            env=worker_env,
            start_new_session=True,
        )
        try:  # the worker bounds the notebook; this bounds the worker (kernel start, hangs)
            rc = worker.wait(timeout=timeout + 90)
        except subprocess.TimeoutExpired:
            rc = None
        with contextlib.suppress(OSError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    return rc


def _worker_outcome(own: Path, rc: int | None, timeout: float) -> tuple[str, str]:
    """``(status, error)`` from the worker's result file, or from how the worker ended."""
    try:
        result = json.loads((own / "result.json").read_text(encoding="utf-8"))
        return str(result["status"]), str(result["error"])
    except (OSError, ValueError, KeyError, TypeError):
        if rc is None:
            return "timeout", f"the grading worker passed {timeout:g} s + 90 s"
        how = f"signal {-rc}" if rc < 0 else f"exit status {rc}"
        tail = (own / "worker.log").read_bytes()[-300:].decode("utf-8", "replace")
        return "worker died", f"the grading worker ended ({how}) {tail}"


_WORKER_CMD = (
    "import sys; from ctr_helpers.grade import _worker_main; sys.exit(_worker_main(sys.argv[1]))"
)


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
    stopped = run.status in (
        "timeout",
        "kernel died",
        "worker died",
        "failed",
        "unreadable",
        "not graded",
    )
    base = dict(
        student=student,
        notebook=notebook,
        notebook_status=run.status,
        error=run.error,
        seconds=f"{run.seconds:.1f}",
    )
    extra = [q for q in checked if q not in expected]
    if len(extra) > _MAX_EXTRA_QUESTIONS:
        note = f"{len(extra) - _MAX_EXTRA_QUESTIONS} more unexpected questions not listed"
        base["error"] = "; ".join(filter(None, [base["error"], note]))
    rows = []
    for q in [*expected, *extra[:_MAX_EXTRA_QUESTIONS]]:
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
                question=_short(q, 100),
                verdict=_short(verdict, 20),
                message=_short(message),
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


def _fingerprint(packages: Iterable[str]) -> dict[str, str]:
    """sha256 of the checkers' sources (every ``*.py`` of ``packages``) and of the ``*.pth`` /
    ``*customize.py`` start-up hooks of site-packages: the files a notebook could rewrite to change
    later students' verdicts."""
    import site

    files: list[Path] = []
    for name in packages:
        spec = importlib.util.find_spec(name)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            files += Path(folder).rglob("*.py")
    for folder in site.getsitepackages():
        files += [*Path(folder).glob("*.pth"), *Path(folder).glob("*customize.py")]
    out = {}
    for f in sorted(set(files)):
        with contextlib.suppress(OSError):
            out[str(f)] = hashlib.sha256(f.read_bytes()).hexdigest()
    return out


def grade(
    paths: Iterable[str | os.PathLike],
    *,
    timeout: float = 300,
    exercises: str = "ctr_helpers.exercises",
    kernel_name: str = "python3",
    limits: Limits = Limits(),
    progress: bool = True,
) -> list[dict]:
    """Run every submitted notebook and return the CSV rows (dicts keyed by ``CSV_COLUMNS``).

    Every notebook is read before the first one runs: a notebook that rewrites a classmate's
    file on disk does not change what is graded.
    """
    from tqdm.auto import tqdm

    notebooks = find_notebooks(paths)
    plan = []
    for nb_path in notebooks:  # import every exercise module first: instructor errors fail fast
        student, number = parse_submission(nb_path)
        try:
            source: bytes | OSError = nb_path.read_bytes()
        except OSError as exc:
            source = exc
        plan.append((nb_path, student, expected_questions(number, exercises), source))
    checkers = ["ctr_helpers.exercises", exercises.split(".")[0]]
    before, tampered_by = _fingerprint(checkers), ""
    rows: list[dict] = []
    bar = tqdm(plan, desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
    for nb_path, student, expected, source in bar:
        bar.set_postfix_str(f"{student}/{nb_path.name}")
        if tampered_by:
            run = NotebookRun(
                "not graded",
                f"the checker files changed while {tampered_by} ran: restore them, grade again",
            )
        elif isinstance(source, OSError):
            run = NotebookRun("unreadable", f"{type(source).__name__}: {source}")
        else:
            run = run_notebook(
                nb_path, timeout=timeout, kernel_name=kernel_name, limits=limits, source=source
            )
            after = _fingerprint(checkers)
            if after != before:
                changed = sorted(
                    k for k in before.keys() | after.keys() if before.get(k) != after.get(k)
                )
                note = f"this notebook changed the checker files {', '.join(changed)}"
                run.error = "; ".join(filter(None, [run.error, _short(note)]))
                tampered_by = f"{student}/{nb_path.name}"
        rows += _rows_for(student, nb_path.name, expected, run)
    return rows


def csv_cell(value: object) -> str:
    """``value`` as CSV text a spreadsheet shows as text: a leading ``'`` before ``= + - @``, tab
    or CR (OWASP's CSV-injection rule).

    >>> print(csv_cell('=HYPERLINK("http://x")'), csv_cell("-1"), csv_cell("ok"))
    '=HYPERLINK("http://x") '-1 ok
    """
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(rows: Sequence[dict], out: str | os.PathLike) -> Path:
    """Write ``rows`` to ``out`` with the ``CSV_COLUMNS`` header; returns the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows({k: csv_cell(row.get(k, "")) for k in CSV_COLUMNS} for row in rows)
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
    parser.add_argument(
        "--memory", type=float, default=8, help="GiB of address space per kernel (8; 0: no limit)"
    )
    parser.add_argument(
        "--file-size", type=float, default=256, help="MiB per file written (256; 0: no limit)"
    )
    parser.add_argument(
        "--processes", type=int, default=256, help="tasks per kernel, non-root only (256)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        rows = grade(
            args.submissions,
            timeout=args.timeout,
            exercises=args.exercises,
            kernel_name=args.kernel,
            limits=Limits(int(args.memory * 2**30), int(args.file_size * 2**20), args.processes),
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
