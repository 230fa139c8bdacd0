"""Helpers shared by the exercise-checker tests."""

from __future__ import annotations


def verdict(question, answer, capsys) -> tuple[bool, str]:
    """Run ``question.check(answer)``; return (passed, the one line it printed)."""
    result = question.check(answer)
    line = capsys.readouterr().out.strip()
    assert "\n" not in line, "check() must print exactly one line"
    return bool(result), line


def assert_starters_are_not_yet(question, capsys) -> None:
    """The notebook's starter (a stub returning None), a stub that raises, and no answer at all
    must each get a "Not yet" verdict, never a pass or a crash."""

    def starter(*args): ...

    def raising(*args):
        raise NotImplementedError

    for answer in (starter, raising, None):
        ok, line = verdict(question, answer, capsys)
        assert not ok and line.startswith("🤔 Not yet"), line
