"""Helpers a check function calls: ``call`` runs the learner's code and turns its failures into
verdicts, ``matches`` recognises one specific wrong answer, ``compare_outputs`` explains a
generic one (shape, dtype, NaN, 2x, sign, offset, factor, sigmoid, largest difference).

All three work on torch tensors, NumPy arrays, numbers and (nested) lists, without importing
torch.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from ctr_helpers.exercises._verdicts import Incorrect, NotYet, _exception_text

__all__ = ["call", "compare_outputs", "matches"]


def _is_placeholder(answer: Any) -> bool:
    return answer is None or answer is Ellipsis


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the learner's function ``fn(*args, **kwargs)`` and turn failures into verdicts.

    Not callable -> ``Incorrect``; ``None`` / ``...`` or ``NotImplementedError`` -> ``NotYet``;
    any other exception -> ``Incorrect("your code raised ValueError: ...")``. The arguments are
    deep-copied first, so a learner's in-place edit cannot corrupt the checker's reference inputs.

    >>> call(lambda x: x + 1, 1)
    2
    >>> try:
    ...     call(lambda x: 1 / x, 0)
    ... except Incorrect as exc:
    ...     print(exc)
    your code raised ZeroDivisionError: division by zero
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

    >>> matches([1.0, 2.0], [1.0, 2.00001])
    True
    >>> matches([1.0, 2.0], [[1.0, 2.0]])  # same values, another shape
    False
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

    >>> try:
    ...     compare_outputs([2.0, 4.0], [1.0, 2.0])
    ... except Incorrect as exc:
    ...     print(exc)
    your result is exactly 2x the expected values: a factor 1/2 missing, or each pair counted twice?
    """
    if got is None:
        raise NotYet(f"{what} is None: did you forget to `return` it?")
    if check_type and type(got) is not type(expected):
        _reject_type(got, expected, what)
    a, b = _to_array(got), _to_array(expected)
    if a is None or b is None or b.dtype.kind not in "biuf":
        try:
            equal = bool(got == expected)
        except Exception:
            equal = False
        if not equal:
            raise Incorrect(f"{what} is not the expected answer")
        return
    a, b = _float_arrays(a, b, what)
    if _close(a, b, rtol, atol):
        return
    _explain_difference(a, b, what, rtol, atol)


def _reject_type(got: Any, expected: Any, what: str) -> None:
    """Raise ``Incorrect`` for a type other than the expected one, unless both are numbers."""
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


def _float_arrays(a: np.ndarray, b: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Both arrays as float64 once dtype, shape, integer results and NaN / inf are ruled out."""
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
    return a, b


def _explain_difference(a: np.ndarray, b: np.ndarray, what: str, rtol: float, atol: float) -> None:
    """Raise ``Incorrect`` naming the first recognised pattern, else the largest difference."""
    finite = np.isfinite(a) & np.isfinite(b)
    a_f, b_f = a[finite], b[finite]
    _reject_scaled(a_f, b_f, what, rtol, atol)
    _reject_link(a_f, b_f, what, rtol, atol)
    diff = np.where(finite, np.abs(a - b), np.inf)
    idx = np.unravel_index(int(np.argmax(diff)), a.shape) if a.ndim else ()
    where = f" at index {tuple(int(i) for i in idx)}" if a.ndim else ""
    raise Incorrect(
        f"{what} differs from the expected values: largest difference {_fmt(diff[idx])}{where}"
        f" (got {_fmt(a[idx])}, expected {_fmt(b[idx])})"
    )


def _reject_scaled(a_f: np.ndarray, b_f: np.ndarray, what: str, rtol: float, atol: float) -> None:
    """2x, 1/2, a flipped sign, a constant offset or a constant factor (finite values only)."""
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


def _reject_link(a_f: np.ndarray, b_f: np.ndarray, what: str, rtol: float, atol: float) -> None:
    """Probabilities where logits are expected, or logits where probabilities are."""
    tol = dict(rtol=rtol, atol=atol)
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
