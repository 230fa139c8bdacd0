"""What a check concludes: a ``Verdict`` (correct / incorrect / not yet), the exceptions a check
function raises instead, and the ``CheckResult`` that ``Question.check`` returns.

>>> incorrect("the sign is flipped").line
'❌ Incorrect: the sign is flipped'
>>> correct().line
'✅ Correct'
>>> bool(CheckResult(not_yet("replace the placeholder")))
False
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "CheckResult",
    "Incorrect",
    "NotYet",
    "Verdict",
    "correct",
    "incorrect",
    "not_yet",
]

Status = Literal["correct", "incorrect", "not_yet"]
_PREFIX = {"correct": "✅ Correct", "incorrect": "❌ Incorrect", "not_yet": "🤔 Not yet"}
_MAX_MESSAGE = 400


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


def _clean(text: str) -> str:
    """One line, no memory addresses, bounded length: deterministic output for nbval."""
    text = re.sub(r" at 0x[0-9a-fA-F]+", "", str(text))
    text = " ".join(text.split())
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 3].rstrip() + "..."
    return text


def _exception_text(exc: BaseException) -> str:
    """``"ValueError: detail"`` of an exception, cleaned; never raises."""
    try:
        detail = str(exc)
    except Exception:  # an exception whose __str__ fails still gets a verdict
        detail = ""
    return _clean(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)
