"""Helpers shared by the exercise-checker tests."""

from __future__ import annotations


def verdict(question, answer, capsys) -> tuple[bool, str]:
    """Run ``question.check(answer)``; return (passed, the one line it printed)."""
    result = question.check(answer)
    line = capsys.readouterr().out.strip()
    assert "\n" not in line, "check() must print exactly one line"
    return bool(result), line
