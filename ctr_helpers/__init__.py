"""ctr_helpers: the models, data, training, metrics and plots behind the ctr-course notebooks.

Modules (data flows one way): ``data`` -> ``layers`` -> ``models`` -> ``train`` ->
``metrics`` / ``calibration`` / ``plots``; ``reference`` holds slow, obvious versions of every
layer for tests and notebooks; ``exercises`` holds the notebooks' answer checkers.
"""

from __future__ import annotations

__version__ = "0.1.0"


def setup(seed: int = 0, *, style: bool = True) -> None:
    """Seed Python, NumPy and PyTorch with ``seed`` and set the course's plotting defaults.

    The first code cell of every notebook calls this once.
    """
    from ctr_helpers.train import seed_everything

    seed_everything(seed)
    if style:
        from ctr_helpers.plots import set_style

        set_style()
