"""Exercise checkers: ``Question`` with ``check`` / ``hint`` / ``solution``, in the spirit of Kaggle Learn.

How a notebook author defines a question (in ``ctr_helpers/exercises/exNN.py``)::

    import torch
    from ctr_helpers.exercises._core import Incorrect, Question, call, compare_outputs, matches

    def _reference(v):                      # v: [B, F, D] -> [B]
        return 0.5 * (v.sum(1).pow(2) - v.pow(2).sum(1)).sum(1)

    def _check(fm_interaction):
        v = torch.randn(4, 3, 5)            # random inputs are seeded (Question(seed=0))
        got = call(fm_interaction, v)       # NotImplementedError -> "Not yet", other errors -> "Incorrect"
        if matches(got, 0.5 * (v.sum(2).pow(2) - v.pow(2).sum(2)).sum(1)):
            raise Incorrect("you summed over the embedding dim first: sum over fields (dim=1)")
        compare_outputs(got, _reference(v))  # generic diagnostics: shape, NaN, 2x, sign, sigmoid, ...

    q1 = Question("q1", _check, hint="Square of the sum minus sum of the squares.",
                  solution=_reference)      # a string of code, or a function (its source is shown)

and in the notebook: ``from ctr_helpers.exercises.ex02 import q1`` then ``q1.check(my_fn)``,
``q1.hint()``, ``q1.solution()``.

The check function receives the learner's answer and either

- returns ``None`` (correct), a string (correct, with that message) or a ``Verdict`` made by
  ``correct(msg)`` / ``incorrect(msg)`` / ``not_yet(msg)``; or
- raises ``Incorrect(msg)`` / ``NotYet(msg)`` (handy from nested helpers such as ``compare_outputs``).

``Question.check`` never raises: an untouched starter (``None``, ``...``, no argument, or a
function raising ``NotImplementedError``) is "Not yet", any other exception is "Incorrect: your
code raised ...". It prints one deterministic line (``✅ Correct`` / ``❌ Incorrect: ...`` /
``🤔 Not yet: ...``) so nbval can compare it, and returns a ``CheckResult`` that is truthy exactly
when the answer is correct and displays nothing when it ends a notebook cell.

Recording for the headless grader (``python -m ctr_helpers.grade``): when the environment variable
``CTR_GRADE_LOG`` names a file, every ``check``, ``hint`` and ``solution`` call appends one JSON
line ``{"question", "event", "verdict", "message"}`` to it; otherwise nothing is written. The log
is a convenience for instructors, not a tamper-proof record.

The global random state (``random``, NumPy, PyTorch) is saved before each check, seeded with the
question's ``seed`` while the check runs, and restored afterwards: checks draw the same random
inputs every time and leave the learner's notebook state untouched.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import os
import random
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = [
    "GRADE_LOG_ENV",
    "CheckResult",
    "Incorrect",
    "NotYet",
    "Question",
    "Verdict",
    "call",
    "compare_outputs",
    "correct",
    "incorrect",
    "isolated_rng",
    "matches",
    "not_yet",
]

GRADE_LOG_ENV = "CTR_GRADE_LOG"
"""Environment variable naming the JSON-lines file where verdicts are recorded for the grader."""

Status = Literal["correct", "incorrect", "not_yet"]
_PREFIX = {"correct": "✅ Correct", "incorrect": "❌ Incorrect", "not_yet": "🤔 Not yet"}
_MAX_MESSAGE = 400


# --------------------------------------------------------------------------- verdicts
@dataclass(frozen=True)
class Verdict:
    """The outcome of one check: ``status`` is ``"correct"``, ``"incorrect"`` or ``"not_yet"``."""

    status: Status
    message: str = ""

    def __post_init__(self) -> None:
        if self.status not in _PREFIX:
            raise ValueError(
                f"Verdict status must be one of {sorted(_PREFIX)}, got {self.status!r}"
            )

    @property
    def line(self) -> str:
        """The one line that ``Question.check`` prints."""
        prefix = _PREFIX[self.status]
        return f"{prefix}: {self.message}" if self.message else prefix


def correct(msg: str = "") -> Verdict:
    """A correct verdict, with an optional message (e.g. what the result means)."""
    return Verdict("correct", msg)


def incorrect(msg: str) -> Verdict:
    """An incorrect verdict; ``msg`` should teach what went wrong."""
    return Verdict("incorrect", msg)


def not_yet(msg: str) -> Verdict:
    """The answer is unfinished (a starter left as is): ``msg`` says what to do next."""
    return Verdict("not_yet", msg)


class Incorrect(Exception):
    """Raise from a check function (or a helper it calls) to reject the answer with a message."""


class NotYet(Exception):
    """Raise from a check function when the answer is still an unfinished starter."""


class CheckResult:
    """What ``Question.check`` returns: truthy iff correct, silent as a notebook cell's value.

    ``bool(result)`` is the pass/fail bool; ``result == True`` works too. ``.status`` and
    ``.message`` give the verdict. It has no ``Out[]`` display, so ``q1.check(fn)`` as the last
    line of a cell shows only the verdict line.
    """

    __slots__ = ("status", "message")

    def __init__(self, verdict: Verdict) -> None:
        self.status: Status = verdict.status
        self.message: str = verdict.message

    def __bool__(self) -> bool:
        return self.status == "correct"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (bool, CheckResult)):
            return bool(self) == bool(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(bool(self))

    def __repr__(self) -> str:
        return repr(bool(self))

    def _ipython_display_(self) -> None:  # the verdict line was already printed
        return None


# --------------------------------------------------------------------------- helpers for authors
def _is_placeholder(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def _exception_text(exc: BaseException) -> str:
    try:
        detail = str(exc)
    except Exception:  # an exception whose __str__ fails still gets a verdict
        detail = ""
    return _clean(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)


def _clean(text: str) -> str:
    """One line, no memory addresses, bounded length: deterministic output for nbval."""
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", str(text))
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3].rstrip() + "..."
    return text


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the learner's function ``fn(*args, **kwargs)`` and turn failures into verdicts.

    Not callable -> ``Incorrect``; ``None`` / ``...`` or ``NotImplementedError`` -> ``NotYet``;
    any other exception -> ``Incorrect("your code raised ValueError: ...")``. The arguments are
    deep-copied first, so a learner's in-place edit cannot corrupt the checker's reference inputs.
    """
    if _is_placeholder(fn):
        raise NotYet("replace the placeholder with your function")
    if not callable(fn):
        raise Incorrect(f"expected a function, got {type(fn).__name__}; pass the function itself")
    args, kwargs = copy.deepcopy((args, kwargs))
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise NotYet(
            "your function still raises NotImplementedError: replace it with your code"
        ) from None
    except (Incorrect, NotYet):
        raise
    except Exception as exc:  # the learner's bug becomes feedback
        raise Incorrect(f"your code raised {_exception_text(exc)}") from None


def _to_array(x: Any) -> np.ndarray | None:
    """A NumPy view of tensors, arrays, numbers and nested lists; None when that is impossible."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor without importing torch
        x = x.detach().cpu()
        if str(getattr(x, "dtype", "")) == "torch.bfloat16":
            x = x.float()
        x = x.numpy()
    try:
        arr = np.asarray(x)
    except Exception:
        return None
    if arr.dtype == object:
        return None
    return arr


def _type_name(x: Any) -> str:
    t = type(x)
    return (
        t.__name__ if t.__module__ == "builtins" else f"{t.__module__.split('.')[0]}.{t.__name__}"
    )


def _close(a: np.ndarray, b: np.ndarray, rtol: float, atol: float) -> bool:
    if a.shape != b.shape:
        return False
    with np.errstate(all="ignore"):
        return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def _fmt(v: float) -> str:
    return f"{float(v):.4g}"


def matches(got: Any, candidate: Any, *, rtol: float = 1e-4, atol: float = 1e-5) -> bool:
    """True when ``got`` equals ``candidate`` (same shape, values within tolerance); never raises.

    Use it to recognise a classic mistake before the generic comparison::

        if matches(got, wrong_axis_version):
            raise Incorrect("you summed over the fields instead of the embedding dimension")
    """
    a, b = _to_array(got), _to_array(candidate)
    if a is None or b is None:
        try:
            return bool(got == candidate)
        except Exception:
            return False
    if a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
        return bool(a.shape == b.shape and np.array_equal(a, b))
    return _close(a.astype(np.float64), b.astype(np.float64), rtol, atol)


def _shape_hint(got: tuple, expected: tuple) -> str:
    size_got, size_exp = int(np.prod(got)), int(np.prod(expected))
    if len(got) == len(expected) and sorted(got) == sorted(expected):
        return " (the same axes in another order: a transpose or permute?)"
    if size_got == size_exp:
        return " (the same number of values: a reshape, squeeze or keepdim issue?)"
    if len(got) > len(expected) and got[: len(expected)] == expected:
        return " (extra trailing dimensions: did you forget to sum or reduce over them?)"
    if len(got) > len(expected):
        return " (more dimensions than expected: a reduction missing, or over the wrong axis?)"
    if len(got) < len(expected):
        return " (fewer dimensions than expected: did you reduce over an axis that should stay?)"
    return ""


def compare_outputs(
    got: Any,
    expected: Any,
    *,
    what: str = "your result",
    rtol: float = 1e-4,
    atol: float = 1e-5,
    check_type: bool = True,
) -> None:
    """Raise ``Incorrect``/``NotYet`` with a teaching message unless ``got`` matches ``expected``.

    Works on torch tensors, NumPy arrays, numbers and (nested) lists. The diagnostics are generic,
    in this order: ``None`` returned, wrong type, wrong shape, integer vs float, NaN / infinity,
    exactly 2x or 1/2 of the expected values, flipped sign, a constant offset, a constant factor,
    probabilities where logits are expected (or the reverse), and finally the largest difference.
    Model-specific mistakes belong in the check function (see ``matches``).
    """
    if got is None:
        raise NotYet(f"{what} is None: did you forget to `return` it?")
    if check_type and type(got) is not type(expected):
        both_numbers = isinstance(got, (int, float, np.number)) and isinstance(
            expected, (int, float, np.number)
        )
        if not both_numbers:
            extra = ""
            if isinstance(expected, (int, float)) and hasattr(got, "item"):
                extra = ": use .item() to get a plain Python number"
            raise Incorrect(
                f"{what} has type {_type_name(got)}, expected {_type_name(expected)}{extra}"
            )
    a, b = _to_array(got), _to_array(expected)
    if a is None or b is None or b.dtype.kind not in "biuf":
        try:
            equal = bool(got == expected)
        except Exception:
            equal = False
        if not equal:
            raise Incorrect(f"{what} is not the expected answer")
        return
    if a.dtype.kind not in "biuf":
        raise Incorrect(f"{what} has dtype {a.dtype}, expected numbers of dtype {b.dtype}")
    if a.shape != b.shape:
        raise Incorrect(
            f"{what} has shape {tuple(a.shape)}, expected {tuple(b.shape)}"
            + _shape_hint(tuple(a.shape), tuple(b.shape))
        )
    if b.dtype.kind == "f" and a.dtype.kind in "biu":
        raise Incorrect(
            f"{what} has integer dtype {a.dtype}, expected floating point ({b.dtype}):"
            " an integer division or a cast somewhere?"
        )
    a, b = a.astype(np.float64), b.astype(np.float64)
    nan_got, nan_exp = np.isnan(a), np.isnan(b)
    if (nan_got & ~nan_exp).any():
        raise Incorrect(
            f"{what} contains NaN ({int((nan_got & ~nan_exp).sum())} of {a.size} values):"
            " look for 0/0, log of 0 or a negative number, or sqrt of a negative number"
        )
    inf_got, inf_exp = np.isinf(a), np.isinf(b)
    if (inf_got & ~inf_exp).any():
        raise Incorrect(
            f"{what} contains infinite values ({int((inf_got & ~inf_exp).sum())} of {a.size}):"
            " an overflow (exp of a large number?) or a division by zero"
        )
    if _close(a, b, rtol, atol):
        return
    finite = np.isfinite(a) & np.isfinite(b)
    a_f, b_f = a[finite], b[finite]
    tol = dict(rtol=rtol, atol=atol)
    if a_f.size and np.any(np.abs(b_f) > atol):
        if _close(a_f, 2 * b_f, **tol):
            raise Incorrect(
                f"{what} is exactly 2x the expected values: a factor 1/2 missing,"
                " or each pair counted twice?"
            )
        if _close(a_f, 0.5 * b_f, **tol):
            raise Incorrect(
                f"{what} is exactly half the expected values: an extra factor 1/2,"
                " or only half of the pairs counted?"
            )
        if _close(a_f, -b_f, **tol):
            raise Incorrect(f"{what} has the right size but the opposite sign: a sign flipped?")
    if a_f.size > 1:
        offset = a_f - b_f
        if np.ptp(offset) <= atol + rtol * np.abs(b_f).max() and abs(offset[0]) > atol:
            raise Incorrect(
                f"{what} is off by the same constant {_fmt(offset[0])} everywhere:"
                " a bias or constant term added or missing?"
            )
        nz = np.abs(b_f) > atol
        if nz.sum() > 1:
            ratio = a_f[nz] / b_f[nz]
            if np.ptp(ratio) <= 1e-3 * max(1.0, abs(ratio[0])) and _close(
                a_f, ratio[0] * b_f, **tol
            ):
                raise Incorrect(
                    f"{what} is proportional to the expected values with factor"
                    f" {_fmt(ratio[0])}: a scaling factor is off"
                )
    with np.errstate(all="ignore"):
        if a_f.size and _close(a_f, 1 / (1 + np.exp(-b_f)), **tol):
            raise Incorrect(
                f"{what} looks like probabilities (a sigmoid was applied), but logits are"
                " expected: return the raw scores"
            )
        if (
            a_f.size
            and np.all((b_f > 0) & (b_f < 1))
            and _close(a_f, np.log(b_f / (1 - b_f)), **tol)
        ):
            raise Incorrect(
                f"{what} looks like logits, but probabilities are expected: apply a sigmoid"
            )
    diff = np.where(finite, np.abs(a - b), np.inf)
    idx = np.unravel_index(int(np.argmax(diff)), a.shape) if a.ndim else ()
    where = f" at index {tuple(int(i) for i in idx)}" if a.ndim else ""
    raise Incorrect(
        f"{what} differs from the expected values: largest difference {_fmt(diff[idx])}{where}"
        f" (got {_fmt(a[idx])}, expected {_fmt(b[idx])})"
    )


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


# --------------------------------------------------------------------------- the question
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
    line = json.dumps(
        {"question": question, "event": event, "verdict": verdict, "message": message},
        ensure_ascii=False,
    )
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    except OSError:  # recording must never break the learner's notebook
        pass


class Question:
    """One exercise: ``check(answer)``, ``hint()``, ``solution()``.

    Args:
        name: short id, unique within its ``exNN`` module (``"q1"``); the grader's CSV uses it.
        check_fn: ``check_fn(answer)`` -> ``None`` | ``str`` | ``Verdict``, or raises
            ``Incorrect`` / ``NotYet`` (see the module docstring).
        hint: a string, or a list of strings shown one more per ``hint()`` call.
        solution: the reference answer as a string of code, or a function / class whose
            source is shown.
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
                return textwrap.dedent(inspect.getsource(sol)).strip()
            except (OSError, TypeError):
                return f"(source of {getattr(sol, '__name__', 'the solution')} unavailable)"
        return textwrap.dedent(str(sol)).strip()

    def solution(self) -> None:
        """Print the reference solution."""
        text = self.solution_text() or "(no solution provided)"
        _print("💡 Solution:\n" + text)
        _record(self.name, "solution")
