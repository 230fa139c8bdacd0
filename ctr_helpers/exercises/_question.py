"""``Question``: one exercise with ``check`` / ``hint`` / ``solution``, the seeded random state its
check runs under (``isolated_rng``), and the JSON-lines record kept for the grader.

>>> q = Question("q1", lambda n: None if n == 45 else "no", hint="10 choose 2", solution="n = 45")
>>> q.check(45)
✅ Correct
True
>>> q.hint()
💡 Hint: 10 choose 2
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import inspect
import json
import os
import random
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ctr_helpers.exercises._compare import _is_placeholder
from ctr_helpers.exercises._verdicts import (
    CheckResult,
    Incorrect,
    NotYet,
    Verdict,
    _clean,
    _exception_text,
    correct,
    incorrect,
    not_yet,
)

__all__ = ["GRADE_LOG_ENV", "Question", "isolated_rng"]

GRADE_LOG_ENV = "CTR_GRADE_LOG"
"""Environment variable naming the JSON-lines file where verdicts are recorded for the grader."""
GRADE_KEY_ENV = "CTR_GRADE_KEY"
"""Environment variable naming the grader's one-time key file (read and deleted by
``_arm_grade_log`` when the grader starts the kernel; each record then carries an HMAC)."""
_grade_key: bytes | None = None


def _arm_grade_log() -> None:
    """Read the grader's key file named by ``CTR_GRADE_KEY`` once, delete it, keep the key here.

    The grader runs this at kernel start-up, before any notebook cell, so a notebook cannot read
    the key from the file. It can still read it from this module: see ``ctr_helpers.grade``.
    """
    global _grade_key
    path = os.environ.pop(GRADE_KEY_ENV, "")
    if not path:
        return
    try:
        with open(path, "rb") as f:
            _grade_key = f.read(256)
        os.unlink(path)
    except OSError:
        _grade_key = None


def _record_mac(key: bytes, question: str, event: str, verdict: str, message: str) -> str:
    """The HMAC-SHA256 (hex) of one record, as ``_record`` writes it and the grader checks it."""
    body = json.dumps([question, event, verdict, message], ensure_ascii=False).encode("utf-8")
    return hmac.new(key, body, hashlib.sha256).hexdigest()


@contextlib.contextmanager
def isolated_rng(seed: int | None = 0) -> Iterator[None]:
    """Save the global ``random`` / NumPy / PyTorch states, seed them with ``seed``, restore on exit.

    PyTorch is handled only when it is already imported.
    """
    py_state = random.getstate()
    np_state = np.random.get_state()
    torch = sys.modules.get("torch")  # only if the notebook uses it: keeps checks light
    torch_state = torch.get_rng_state() if torch is not None else None
    try:
        if seed is not None:
            random.seed(seed)
            np.random.seed(seed)
            if torch is not None:
                torch.manual_seed(seed)
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
        if torch is not None:
            torch.set_rng_state(torch_state)


_MISSING = object()


def _print(text: str) -> None:
    """Print, falling back to ASCII on a console that cannot encode the emoji."""
    try:
        print(text)
    except UnicodeEncodeError:
        print(text.encode("ascii", "replace").decode("ascii"))


def _record(question: str, event: str, verdict: str = "", message: str = "") -> None:
    path = os.environ.get(GRADE_LOG_ENV)
    if not path:
        return
    record = {"question": question, "event": event, "verdict": verdict, "message": message}
    if _grade_key is not None:
        record["mac"] = _record_mac(_grade_key, question, event, verdict, message)
    line = json.dumps(record, ensure_ascii=False)
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError:  # recording must never break the learner's notebook
        pass


def _public_source(source: str, name: str) -> str:
    """``source`` with a private solution's ``def _name`` shown as ``def name``: the checker
    modules keep their solutions private, the learner sees the name the notebook asks for."""
    public = name.lstrip("_")
    if not name.startswith("_") or name.startswith("__") or not public:
        return source
    pattern = rf"^((?:async\s+)?(?:def|class)\s+){re.escape(name)}\b"
    return re.sub(pattern, rf"\g<1>{public}", source, count=1, flags=re.MULTILINE)


class Question:
    """One exercise: ``check(answer)``, ``hint()``, ``solution()``.

    Args:
        name: short id, unique within its ``exNN`` module (``"q1"``); the grader's CSV uses it.
        check_fn: ``check_fn(answer)`` -> ``None`` | ``str`` | ``Verdict``, or raises
            ``Incorrect`` / ``NotYet`` (see the ``_core`` module docstring).
        hint: a string, or a list of strings shown one more per ``hint()`` call.
        solution: the reference answer as a string of code, or a function / class whose
            source is shown (a private ``_name`` is shown as ``name``).
        seed: the random seed set while ``check_fn`` runs (``None``: leave the state alone).
    """

    def __init__(
        self,
        name: str,
        check_fn: Callable[[Any], Verdict | str | None],
        hint: str | Sequence[str] = "",
        solution: str | Callable[..., Any] = "",
        *,
        seed: int | None = 0,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"Question name must be a non-empty string, got {name!r}")
        if not callable(check_fn):
            raise TypeError(f"Question {name!r}: check_fn must be callable, got {type(check_fn)}")
        self.name = name
        self.check_fn = check_fn
        self.hints = [hint] if isinstance(hint, str) else list(hint)
        self._solution = solution
        self.seed = seed
        self._hints_shown = 0

    def __repr__(self) -> str:
        return f"Question({self.name!r})"

    def verdict(self, answer: Any = _MISSING) -> Verdict:
        """The verdict for ``answer`` without printing or recording it; never raises."""
        try:
            return self._verdict(answer)
        except Exception as exc:  # last resort, e.g. a message whose __str__ fails
            return incorrect(f"your code raised {_exception_text(exc)}")

    def _verdict(self, answer: Any) -> Verdict:
        if answer is _MISSING:
            return not_yet(f"pass your answer, e.g. {self.name}.check(your_answer)")
        if _is_placeholder(answer):
            return not_yet("replace the placeholder (None or ...) with your answer")
        try:
            with isolated_rng(self.seed):
                result = self.check_fn(answer)
        except NotYet as exc:
            return not_yet(_clean(str(exc)))
        except Incorrect as exc:
            return incorrect(_clean(str(exc)))
        except NotImplementedError:
            return not_yet("your code still raises NotImplementedError: replace it with your code")
        except Exception as exc:
            return incorrect(f"your code raised {_exception_text(exc)}")
        if result is None or result is True:
            return correct()
        if result is False:
            return incorrect("not the expected answer")
        if isinstance(result, str):
            return correct(_clean(result))
        if isinstance(result, Verdict):
            return Verdict(result.status, _clean(result.message))
        return incorrect(f"the checker returned an unexpected {type(result).__name__}")

    def check(self, answer: Any = _MISSING) -> CheckResult:
        """Print one verdict line for ``answer``, record it for the grader, return the result."""
        v = self.verdict(answer)
        _print(v.line)
        _record(self.name, "check", v.status, v.message)
        return CheckResult(v)

    def hint(self) -> None:
        """Print the next hint (all hints shown so far when there are several)."""
        if not self.hints or not any(self.hints):
            _print("💡 Hint: no hint for this one; try the smallest example by hand.")
            _record(self.name, "hint")
            return
        self._hints_shown = min(self._hints_shown + 1, len(self.hints))
        shown = self.hints[: self._hints_shown]
        if len(self.hints) == 1:
            _print(f"💡 Hint: {shown[0]}")
        else:
            for i, h in enumerate(shown, 1):
                _print(f"💡 Hint {i}/{len(self.hints)}: {h}")
        _record(self.name, "hint")

    def solution_text(self) -> str:
        """The solution as text (source code for a function or class)."""
        sol = self._solution
        if callable(sol):
            try:
                source = textwrap.dedent(inspect.getsource(sol)).strip()
            except (OSError, TypeError):
                return f"(source of {getattr(sol, '__name__', 'the solution')} unavailable)"
            return _public_source(source, getattr(sol, "__name__", ""))
        return textwrap.dedent(str(sol)).strip()

    def solution(self) -> None:
        """Print the reference solution."""
        text = self.solution_text() or "(no solution provided)"
        _print("💡 Solution:\n" + text)
        _record(self.name, "solution")
