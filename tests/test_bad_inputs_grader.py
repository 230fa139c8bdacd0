"""Hostile submissions against the headless grader (issue 21): one run grades a background daemon,
a parent killer, an environment reader, a sibling rewriter, a forger and a memory hog, in file
order before two honest classmates. The honest ones keep their verdicts, everyone gets a row, no
secret or formula reaches the CSV, and no process of the run is left."""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from ctr_helpers.grade import MESSAGE_CHARS, main

FIXTURES = Path(__file__).parent / "fixtures" / "grading"
HONEST = FIXTURES / "submissions" / "alice" / "99_demo.ipynb"
IMPORTS = "from demo_exercises.ex99 import q1, q2\nfrom ctr_helpers.exercises._core import Question"
PAIR_SUM = "def pair_sum(x):\n    return 0.5 * (x.sum() ** 2 - (x**2).sum())\n\nq1.check(pair_sum)"

DAEMON = """import glob, os, time
EVID, TMP = {evid!r}, {tmp!r}  # TMP: where the grader makes its folders
pid = os.fork()
if pid == 0:
    os.setsid()
    if os.fork() == 0:  # the daemon: outlive the notebook, spoil every later student's run
        with open(os.path.join(EVID, "daemon.pid"), "w") as f:
            f.write(str(os.getpid()))
        end, mine = time.time() + 60, set(glob.glob(os.path.join(TMP, "*")))  # this run's
        while time.time() < end:
            for path in glob.glob(os.path.join(TMP, "*", "*")):
                if os.path.dirname(path) in mine:
                    continue
                try:
                    if path.endswith((".jsonl", ".ipynb", ".json")):
                        open(path, "w").close()  # truncate logs, notebook copies, results
                        with open(os.path.join(EVID, "daemon.hits"), "a") as f:
                            f.write(path + "\\n")
                except OSError:
                    pass
            time.sleep(0.02)
        os._exit(0)
    os._exit(0)
os.waitpid(pid, 0)
time.sleep(0.3)"""

SIBLING = """import glob, os
SUBS, EVID = {subs!r}, {evid!r}
for path in glob.glob(os.path.join(SUBS, "*", "*.ipynb")):
    if "/d_sibling/" in path:
        continue
    text = open(path).read().replace("10 * 9 // 2", "44").replace("x**2", "x**3")
    with open(path, "w") as f:
        f.write(text)
    with open(os.path.join(EVID, "sibling.hits"), "a") as f:
        f.write(path + "\\n")"""

ENV_READ = """import os
secret = os.environ.get("CTR_INSTRUCTOR_TOKEN", "") + os.environ.get("GRADER_SECRET", "")
for pid in ("self", str(os.getppid())):  # the kernel's and the worker's starting environment
    try:
        secret += open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace")
    except OSError:
        pass
print("leak:" + secret)
Question("leak", lambda a: str(a)).check("leak:" + secret)
Question("home", lambda a: str(a)).check(os.environ.get("HOME"))
Question("data", lambda a: str(a)).check(os.environ.get("CTR_DATA_HOME"))

def pair_sum(x):
    raise ValueError("leak:" + secret)

q1.check(pair_sum)
raise RuntimeError("leak:" + secret)"""

FORGER = """import json, os
print("✅ Correct")  # printed, never checked
with open(os.environ["CTR_GRADE_LOG"], "a") as f:
    for q in ("q1", "q2"):
        f.write(json.dumps({"question": q, "event": "check", "verdict": "correct",
                            "message": "", "mac": "0" * 64}) + "\\n")
Question('=HYPERLINK("http://evil.example","click")', lambda a: "+SUM(A1)").check(1)
Question("@long", lambda a: "-" + "x" * 5000).check(1)"""


def _notebook(folder: Path, student: str, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    (folder / student).mkdir(parents=True)
    path = folder / student / "99_demo.ipynb"
    nbformat.write(nb, path)
    return path


def _marked(marker: str) -> list[int]:
    """Live processes whose starting environment contains ``marker``."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            try:
                state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z" and marker.encode() in Path(f"/proc/{name}/environ").read_bytes():
                    found.append(int(name))
            except (OSError, IndexError):
                pass
    return found


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One grading run of every hostile and honest submission; the CSV text, rows and evidence."""
    root = tmp_path_factory.mktemp("hostile")
    subs, evid, tmp = root / "submissions", root / "evidence", root / "tmp"
    evid.mkdir()
    tmp.mkdir()
    token, marker = secrets.token_hex(12), f"/nonexistent-marker-{secrets.token_hex(6)}"
    _notebook(
        subs, "a_daemon", DAEMON.format(evid=str(evid), tmp=str(tmp)), "while True:\n    pass"
    )
    _notebook(
        subs, "b_killer", IMPORTS, PAIR_SUM, "import os\nos.kill(os.getppid(), 9)", "q2.check(45)"
    )
    _notebook(subs, "c_envread", IMPORTS, ENV_READ)
    _notebook(subs, "d_sibling", SIBLING.format(subs=str(subs), evid=str(evid)))
    _notebook(subs, "e_forger", IMPORTS, FORGER)
    _notebook(
        subs,
        "f_hog",
        IMPORTS,
        "big = bytearray(3 << 30)",
        "open('f', 'wb').write(bytes(2 << 20))",
        PAIR_SUM,
    )
    for honest in ("k_honest", "z_honest"):
        (subs / honest).mkdir()
        (subs / honest / "99_demo.ipynb").write_bytes(HONEST.read_bytes())
    mp = pytest.MonkeyPatch()
    mp.setattr(tempfile, "tempdir", str(tmp))  # the daemon may only ever touch this run's files
    mp.syspath_prepend(str(FIXTURES))
    # the marker rides in PYTHONPATH, which the grader passes on to every worker and kernel
    mp.setenv("PYTHONPATH", os.pathsep.join([str(FIXTURES.resolve()), marker]))
    mp.setenv("CTR_INSTRUCTOR_TOKEN", token)
    mp.setenv("GRADER_SECRET", token)
    mp.setenv("CTR_DATA_HOME", str(root / "data-home"))
    out = root / "grades.csv"
    args = [
        "--exercises",
        "demo_exercises",
        "--quiet",
        "--timeout",
        "6",
        "--memory",
        "2",
        "--file-size",
        "1",
    ]
    try:
        start = time.monotonic()
        status = main([str(subs), "--out", str(out), *args])
        seconds = time.monotonic() - start
        time.sleep(0.5)  # a surviving daemon would have written again by now
        survivors = _marked(marker)
    finally:
        mp.undo()
    assert list(tmp.iterdir()) == []  # every private copy was removed
    text = out.read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return dict(
        status=status,
        seconds=seconds,
        text=text,
        rows={(r["student"], r["question"]): r for r in rows},
        evid=evid,
        subs=subs,
        token=token,
        root=root,
        survivors=survivors,
    )


def test_the_run_completes_with_a_row_for_everyone(run):
    assert run["status"] == 0
    students = {s for s, _ in run["rows"]}
    assert students == {
        "a_daemon", "b_killer", "c_envread", "d_sibling", "e_forger", "f_hog", "k_honest", "z_honest"
    }  # fmt: skip
    assert run["seconds"] < 150  # no wait on a daemon (8 notebooks, 6 s timeout)


@pytest.mark.parametrize("student", ["k_honest", "z_honest"])
def test_honest_students_keep_their_verdicts(run, student):
    for q in ("q1", "q2"):
        row = run["rows"][student, q]
        assert (row["verdict"], row["notebook_status"], row["error"]) == ("correct", "ok", "")


def test_a_background_daemon_is_killed_before_anyone_else_runs(run):
    assert run["rows"]["a_daemon", "q1"]["notebook_status"] == "timeout"
    pid = int((run["evid"] / "daemon.pid").read_text())  # it did start
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()
    hits = run["evid"] / "daemon.hits"
    assert not hits.exists(), hits.read_text()  # it never reached a later student's files
    assert run["survivors"] == []  # nothing with the run's marker is left


def test_a_kernel_that_kills_its_parent_loses_only_its_own_run(run):
    q1, q2 = run["rows"]["b_killer", "q1"], run["rows"]["b_killer", "q2"]
    assert (q1["verdict"], q1["notebook_status"]) == ("correct", "worker died")
    assert "signal 9" in q1["error"]
    assert q2["verdict"] == "missing" and "stopped first" in q2["message"]


def test_the_instructors_environment_never_reaches_the_csv(run):
    assert run["token"] not in run["text"]
    leak = run["rows"]["c_envread", "leak"]
    assert leak["verdict"] == "correct" and leak["message"].startswith("leak:")  # channel works
    assert "your code raised ValueError: leak:" in run["rows"]["c_envread", "q1"]["message"]
    assert "RuntimeError: leak:" in leak["error"]
    home = run["rows"]["c_envread", "home"]["message"]
    assert home != os.environ.get("HOME") and Path(home).name.startswith("tmp")  # a private HOME
    assert not Path(home).exists()  # removed after the run
    assert run["rows"]["c_envread", "data"]["message"] == str(run["root"] / "data-home")


def test_a_sibling_rewrite_changes_the_file_on_disk_but_not_the_grade(run):
    hits = (run["evid"] / "sibling.hits").read_text().split()
    assert str(run["subs"] / "z_honest" / "99_demo.ipynb") in hits  # the attack ran (same uid)
    assert "44" in (run["subs"] / "z_honest" / "99_demo.ipynb").read_text()
    # ... but every notebook was read before the first one ran: z_honest is still correct
    assert run["rows"]["z_honest", "q2"]["verdict"] == "correct"


def test_forged_verdicts_and_printed_correct_do_not_count(run):
    for q in ("q1", "q2"):
        row = run["rows"]["e_forger", q]
        assert row["verdict"] == "missing", row
    assert "2 unsigned or altered verdict lines ignored" in row["error"]


def test_csv_cells_cannot_be_formulas_and_messages_are_cut(run):
    cells = [cell for line in csv.reader(run["text"].splitlines()) for cell in line]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert '\'=HYPERLINK("http://evil.example","click")' in cells
    assert "'+SUM(A1)" in cells
    long = run["rows"]["e_forger", "'@long"]["message"]
    assert long.startswith("'-xxx") and len(long) <= MESSAGE_CHARS + 1


def test_memory_and_file_size_are_limited_per_kernel(run):
    row = run["rows"]["f_hog", "q1"]
    assert row["notebook_status"] == "cell errors" and "MemoryError" in row["error"]
    assert "OSError: [Errno 27] File too large" in row["error"]
    assert row["verdict"] == "correct"  # the kernel survived its failed allocation


def test_verdict_log_records_are_signed_only_when_armed(tmp_path, monkeypatch):
    from ctr_helpers.exercises import _question
    from ctr_helpers.grade import _read_events

    log, key_file = tmp_path / "log.jsonl", tmp_path / "k.key"
    key_file.write_bytes(b"k" * 32)
    monkeypatch.setenv("CTR_GRADE_LOG", str(log))
    monkeypatch.setenv("CTR_GRADE_KEY", str(key_file))
    monkeypatch.setattr(_question, "_grade_key", None)
    _question._arm_grade_log()
    assert not key_file.exists() and "CTR_GRADE_KEY" not in os.environ  # read once, gone
    _question._record("q1", "check", "correct", "fine")
    with log.open("a") as f:
        f.write(json.dumps({"question": "q2", "event": "check", "verdict": "correct"}) + "\n")
    events, rejected = _read_events(log, b"k" * 32)
    assert [(e["question"], e["verdict"]) for e in events] == [("q1", "correct")]
    assert rejected == 1
    assert _read_events(log, b"other key" * 4) == ([], 2)


def test_a_notebook_that_rewrites_the_checker_stops_the_run_visibly(tmp_path, monkeypatch):
    """Same uid: the file cannot be protected, but the grader notices and grades no one after."""
    pkg = tmp_path / "pkgs" / "tamper_exercises"
    shutil.copytree(FIXTURES / "demo_exercises", pkg)
    honest = HONEST.read_text(encoding="utf-8").replace("demo_exercises", "tamper_exercises")
    patch = "\n\ndef _check_n_pairs(n):\n    raise Incorrect('no')\n"  # every later q2 wrong
    evil = f"with open({str(pkg / 'ex99.py')!r}, 'a') as f:\n    f.write({patch!r})"
    _notebook(tmp_path / "subs", "t_tamper", evil)
    (tmp_path / "subs" / "z_honest").mkdir()
    (tmp_path / "subs" / "z_honest" / "99_demo.ipynb").write_text(honest, encoding="utf-8")
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.setenv("PYTHONPATH", str(pkg.parent))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    out = tmp_path / "g.csv"
    args = ["--exercises", "tamper_exercises", "--quiet", "--timeout", "20"]
    assert main([str(tmp_path / "subs"), "--out", str(out), *args]) == 0
    rows = {(r["student"], r["question"]): r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert "changed the checker files" in rows["t_tamper", "q1"]["error"]
    assert str(pkg / "ex99.py") in rows["t_tamper", "q1"]["error"]
    row = rows["z_honest", "q2"]
    assert (row["verdict"], row["notebook_status"]) == ("missing", "not graded")
    assert "while t_tamper/99_demo.ipynb ran" in row["error"]
