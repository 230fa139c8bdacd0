"""ctr_helpers: the models, data, training, metrics and plots behind the ctr-course notebooks.

Data flows one way: ``data`` -> ``layers`` -> ``models`` -> ``train`` -> ``metrics`` /
``calibration`` / ``plots``. One module per role, in reading order:

- ``data`` (a package): containers, download cache, Frappe, Criteo, field encoding, synthetic
  data with planted effects, splits;
- ``init``: how every parameter is initialised, the one policy of the package;
- ``layers``: the building blocks on ``[B, F, D]`` tensors, forwards written as the maths;
  their fused fast paths live in the private ``_kernels``;
- ``models``: LR to FiBiNet as short compositions of layers, and a registry by name;
- ``reference``: slow, obvious versions of every layer, for tests and notebooks;
- ``train``: fit / evaluate / predict, early stopping, losses, seeding; ``optim`` (LazyAdam,
  make_optimizer), ``runtime`` (precision, memory allocator) and ``distributed`` (torchrun)
  hold what ``fit`` uses;
- ``metrics``, ``calibration``: AUC, logloss, ECE; Platt, isotonic, downsampling correction;
- ``plots``: every figure the notebooks draw (``plots.diagrams`` for the schematic ones);
- ``exercises``: the notebooks' answer checkers; ``grade`` grades a class's notebooks;
- ``bench``: the BARS Frappe_x1 benchmark runner.
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
