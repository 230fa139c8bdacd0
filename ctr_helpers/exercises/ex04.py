"""Exercises of notebook 04 (DeepFM): combine the two branches, count the parameters.

from ctr_helpers.exercises.ex04 import q1, q2
q1.check(deepfm_logit)       # deepfm_logit(w0, w, e, deep) -> logits [B]
q2.check(deepfm_num_params)  # deepfm_num_params(field_dims, embed_dim, hidden) -> int
"""

from __future__ import annotations

import torch

from ctr_helpers.exercises._core import Incorrect, NotYet, Question, call, compare_outputs, matches

__all__ = ["QUESTIONS", "q1", "q2"]


# --------------------------------------------------------------------------- q1: the DeepFM logit
def _deepfm_logit(w0, w, e, deep):
    """DeepFM's logit from its pieces (no sigmoid: the loss takes logits).

    w0: [] global bias; w: [B, F] linear weights of the active features; e: [B, F, D] shared
    embeddings; deep: [B] the MLP's logit. Returns [B].
    """
    linear = w0 + w.sum(dim=1)
    pairs = 0.5 * (e.sum(dim=1).pow(2) - e.pow(2).sum(dim=1)).sum(dim=1)
    return linear + pairs + deep


def _pairs(e):
    return 0.5 * (e.sum(dim=1).pow(2) - e.pow(2).sum(dim=1)).sum(dim=1)


def _probability_mistakes(fm, deep):
    """Sigmoids in the wrong places: (wrong answer, teaching message) pairs."""
    sig = torch.sigmoid
    return [
        (
            sig(fm) + sig(deep),
            "you added two probabilities (a sigmoid on each branch): the sum can exceed 1 and is "
            "not a logit. DeepFM adds the two branches' logits, y_FM + y_DNN, and a single "
            "sigmoid comes last (inside BCEWithLogitsLoss during training)",
        ),
        (
            (sig(fm) + sig(deep)) / 2,
            "you averaged two probabilities (a sigmoid on each branch): that is an ensemble of two "
            "models, not DeepFM. Add the logits y_FM + y_DNN and return that sum",
        ),
        (
            sig(sig(fm) + sig(deep)),
            "you applied sigmoids to the branches and again to their sum: add the raw logits "
            "y_FM + y_DNN and return them; the only sigmoid comes at the very end",
        ),
        (
            sig(fm + deep),
            "you returned probabilities: the model must return the logit y_FM + y_DNN; the "
            "sigmoid lives in the loss (BCEWithLogitsLoss) and in predict_proba",
        ),
    ]


def _q1_mistakes(w0, w, e, deep):
    """(wrong answer, teaching message) for the classic ways to get the DeepFM logit wrong."""
    linear = w0 + w.sum(dim=1)
    pairs = _pairs(e)
    fm = linear + pairs
    flat = e.flatten(1)
    return [
        *_probability_mistakes(fm, deep),
        (
            pairs + deep,
            "the linear term is missing: y_FM = w0 + sum_i w_i + sum_{i<j} <e_i, e_j>. FM's "
            "first-order part (bias and one weight per active feature) belongs to the FM branch",
        ),
        (
            w0 + pairs + deep,
            "the first-order weights are missing: add w.sum(dim=1), one weight per active feature "
            "(the linear term is a width-1 embedding of the same indices)",
        ),
        (
            w.sum(dim=1) + pairs + deep,
            "the global bias w0 is missing: y_FM starts with w0",
        ),
        (
            linear + deep,
            "the pairwise term is missing: without sum_{i<j} <e_i, e_j> the FM branch is just "
            "logistic regression (that is Wide & Deep without hand-made crosses)",
        ),
        (
            fm,
            "the deep branch is missing: add the MLP's logit `deep` to the FM logit",
        ),
        (
            linear + 2 * pairs + deep,
            "each pair is counted twice: the square-of-sum identity needs its factor 1/2 "
            "(sum over i != j counts (i, j) and (j, i))",
        ),
        (
            linear + 0.5 * e.sum(dim=1).pow(2).sum(dim=1) + deep,
            "your pair term includes the self-interactions <e_i, e_i>: subtract the sum of "
            "squares, 0.5 * ((sum_f e_f)^2 - sum_f e_f^2), summed over the embedding dimension",
        ),
        (
            linear + 0.5 * (flat.sum(dim=1).pow(2) - flat.pow(2).sum(dim=1)) + deep,
            "you flattened e to [B, F*D] before the square-of-sum trick: that multiplies "
            "dimension d of one field with dimension d' of another. Sum over the fields (dim=1) "
            "first, per embedding dimension, then over D",
        ),
        (
            linear + 0.5 * (e.sum(dim=2).pow(2) - e.pow(2).sum(dim=2)).sum(dim=1) + deep,
            "your pair term sums over the embedding dimension first (dim=2): the identity sums "
            "over the fields (dim=1) for each dimension d, then adds up the D results",
        ),
    ]


def _check_deepfm_logit(fn):
    b, f, d = 6, 4, 3
    w0 = torch.tensor(0.3)
    w = torch.randn(b, f) * 0.5
    e = torch.randn(b, f, d) * 0.7
    deep = torch.randn(b) * 1.5
    got = call(fn, w0, w, e, deep)
    if got is None:
        raise NotYet("your function returned None: did you forget to `return` the logits?")
    if not isinstance(got, torch.Tensor):
        raise Incorrect(f"return a torch.Tensor of shape [B] = [{b}], got {type(got).__name__}")
    expected = _deepfm_logit(w0, w, e, deep)
    if got.shape == expected.shape:
        for wrong, message in _q1_mistakes(w0, w, e, deep):
            if matches(got, wrong):
                raise Incorrect(message)
    compare_outputs(got, expected, what="your logits")
    return "y_FM + y_DNN, all in logit space, one sigmoid at the very end."


q1 = Question(
    "q1",
    _check_deepfm_logit,
    hint=[
        "Build y_FM = w0 + w.sum(1) + (pair term) and add the MLP's logit. No sigmoid anywhere.",
        "Pair term: 0.5 * (e.sum(dim=1) ** 2 - (e ** 2).sum(dim=1)).sum(dim=1).",
    ],
    solution=_deepfm_logit,
)


# --------------------------------------------------------------------------- q2: parameter count
def _deepfm_num_params(field_dims, embed_dim, hidden):
    """Trainable parameters of DeepFM(field_dims, embed_dim, hidden=hidden) (MLP with batch norm)."""
    n = sum(field_dims)
    linear = n + 1  # width-1 embedding + global bias
    embedding = n * embed_dim  # ONE table, shared by the FM branch and the MLP
    widths = [len(field_dims) * embed_dim, *hidden, 1]
    mlp = sum(i * o + o for i, o in zip(widths[:-1], widths[1:], strict=True))
    batch_norm = 2 * sum(hidden)  # a scale and a shift per unit (running stats are buffers)
    return linear + embedding + mlp + batch_norm


_Q2_CASES = [
    ([957, 4082, 7, 7, 2, 3, 2, 9, 80, 233], 10, (400, 400, 400)),  # Frappe, as in the notebook
    ([3, 4, 5], 4, (8,)),
    ([10, 20], 2, (16, 8)),
]


def _table_mistakes(right, n, f, embed_dim):
    """Embedding table, linear term and pair weights counted wrong."""
    return [
        (
            right + n * embed_dim,
            "you counted two embedding tables (one for FM, one for the MLP): DeepFM's point is "
            "that both branches share ONE table of sum(field_dims) x embed_dim",
        ),
        (
            right - (n + 1),
            "the linear term is missing: one weight per feature value (a width-1 embedding, "
            "sum(field_dims) numbers) plus the global bias",
        ),
        (
            right - n,
            "the first-order weights are missing: the linear term has one weight per feature "
            "value, sum(field_dims) of them (plus the bias, which you have)",
        ),
        (
            right - 1,
            "off by one: the global bias w0 of the linear term is a parameter too",
        ),
        (
            right + f * (f - 1) // 2,
            "FM has no separate pair weights: the weight of pair (i, j) is the dot product of "
            "their embeddings, so the pairwise term adds no parameters",
        ),
        (
            right + n * (n - 1) // 2,
            "FM has no separate pair weights: the weight of pair (i, j) is the dot product of "
            "their embeddings, so the pairwise term adds no parameters",
        ),
    ]


def _mlp_mistakes(right, f, embed_dim, hidden):
    """The MLP's input width, biases, output layer and batch norm counted wrong."""
    widths = [f * embed_dim, *hidden, 1]
    mlp_biases = sum(widths[1:])
    wrong_input = [embed_dim, *hidden, 1]
    mlp_right = sum(i * o + o for i, o in zip(widths[:-1], widths[1:], strict=True))
    mlp_d_input = sum(i * o + o for i, o in zip(wrong_input[:-1], wrong_input[1:], strict=True))
    return [
        (
            right - mlp_right + mlp_d_input,
            "the MLP's input is the concatenation of all F embeddings, F * embed_dim numbers, "
            "not a single embed_dim vector",
        ),
        (
            right - mlp_biases,
            "the MLP's biases are missing: every Linear(in, out) has in * out weights and out "
            "biases",
        ),
        (
            right - (hidden[-1] + 1),
            "the MLP's output layer is missing: Linear(hidden[-1], 1) turns the last hidden layer "
            "into the deep logit (hidden[-1] weights + 1 bias)",
        ),
        (
            right - 2 * sum(hidden),
            "the batch-norm parameters are missing: each BatchNorm1d(h) learns a scale and a shift "
            "per unit, 2 * h parameters",
        ),
        (
            right + 2 * sum(hidden),
            "batch norm's running mean and variance are buffers, not trained parameters: count "
            "only its scale and shift (2 * h per layer)",
        ),
        (
            right + 2 * sum(hidden) + len(hidden),
            "batch norm's running mean, variance and batch counter are buffers, not trained "
            "parameters: count only its scale and shift (2 * h per layer)",
        ),
    ]


def _q2_mistakes(field_dims, embed_dim, hidden):
    """(wrong count, teaching message) for the classic ways to count DeepFM's parameters."""
    n, f = sum(field_dims), len(field_dims)
    right = _deepfm_num_params(field_dims, embed_dim, hidden)
    return _table_mistakes(right, n, f, embed_dim) + _mlp_mistakes(right, f, embed_dim, hidden)


def _as_int(got, what):
    if got is None:
        raise NotYet(f"{what} is None: did you forget to `return` it?")
    if hasattr(got, "item") and getattr(got, "ndim", 0) == 0:
        got = got.item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise Incorrect(f"{what} should be one whole number, got {type(got).__name__}")
    if isinstance(got, float) and not got.is_integer():
        raise Incorrect(f"{what} is {got}: a parameter count is a whole number")
    return int(got)


def _check_deepfm_num_params(fn):
    answers = []
    for dims, dim, hidden in _Q2_CASES:
        what = f"your count for field_dims={dims}, embed_dim={dim}, hidden={hidden}"
        answers.append(_as_int(call(fn, list(dims), dim, tuple(hidden)), what))
    expected = [_deepfm_num_params(*case) for case in _Q2_CASES]
    if answers == expected:
        return f"{expected[0]:,} parameters for DeepFM on Frappe (one shared table)."
    # a mistake is recognised when it explains the answers on every case where it differs
    mistakes = [_q2_mistakes(*case) for case in _Q2_CASES]
    for k, (_, message) in enumerate(mistakes[0]):
        if all(ans == m[k][0] for ans, m in zip(answers, mistakes, strict=True)):
            raise Incorrect(message)
    for ans, exp, (dims, dim, hidden) in zip(answers, expected, _Q2_CASES, strict=True):
        if ans != exp:
            raise Incorrect(
                f"for field_dims={dims}, embed_dim={dim}, hidden={hidden} you counted {ans:,}, "
                f"expected {exp:,} (off by {ans - exp:+,}): add up the linear term, the shared "
                "table, the MLP's Linear layers and batch norm's scales and shifts"
            )
    raise Incorrect("not the expected count")  # unreachable


q2 = Question(
    "q2",
    _check_deepfm_num_params,
    hint=[
        "Four parts: linear term (one weight per feature value + bias), ONE shared embedding "
        "table, the MLP's Linear layers, batch norm (scale + shift per unit).",
        "MLP widths: [F * embed_dim, *hidden, 1]; Linear(i, o) has i * o + o parameters.",
    ],
    solution=_deepfm_num_params,
)

QUESTIONS = [q1, q2]
