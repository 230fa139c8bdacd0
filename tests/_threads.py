"""A module-scoped autouse fixture that runs a test module's tests on one torch thread.

Tiny tensors gain nothing from a second thread, only synchronisation, and badly so on a busy
2-core machine. Import it into a test module (``from _threads import one_thread``) to use it.
Not a ``conftest.py``: ``tests/browser/conftest.py`` exists, and a second conftest module of the
same name breaks collection (the tests are not packages).
"""

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
