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
                  solution=_reference)      # a string of code, or a function (its source is shown,
                                            # a private ``_reference`` as ``def reference``)

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

This module is the one authors import from; the code lives in ``_verdicts`` (``Verdict`` and
its constructors, ``Incorrect`` / ``NotYet``, ``CheckResult``), ``_compare`` (``call``,
``matches``, ``compare_outputs``) and ``_question`` (``Question``, ``isolated_rng``, the grader's
record).
"""

from ctr_helpers.exercises._compare import call, compare_outputs, matches
from ctr_helpers.exercises._question import GRADE_LOG_ENV, Question, isolated_rng
from ctr_helpers.exercises._verdicts import (
    CheckResult,
    Incorrect,
    NotYet,
    Verdict,
    correct,
    incorrect,
    not_yet,
)

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
