"""Every figure the notebooks draw, one function each; each returns its ``matplotlib`` Figure.

The data plots are grouped by the notebooks that use them -- ``intro`` (00-01),
``factorization`` (02-03), ``deep`` (04-05), ``cross`` (06-07), ``interactions`` (08),
``comparison`` (09) and ``practice`` (10-11 and the benchmark); the schematics drawn from boxes
and arrows (pipeline, DeepFM, CIN, FFM gather) are in ``diagrams``, on the primitives of
``_draw``. All are re-exported here: call them as ``ctr_helpers.plots.<name>``.
"""

from ctr_helpers.plots._style import PALETTE as PALETTE
from ctr_helpers.plots._style import set_style as set_style
from ctr_helpers.plots.comparison import *  # noqa: F401,F403
from ctr_helpers.plots.cross import *  # noqa: F401,F403
from ctr_helpers.plots.deep import *  # noqa: F401,F403
from ctr_helpers.plots.diagrams import *  # noqa: F401,F403
from ctr_helpers.plots.factorization import *  # noqa: F401,F403
from ctr_helpers.plots.interactions import *  # noqa: F401,F403
from ctr_helpers.plots.intro import *  # noqa: F401,F403
from ctr_helpers.plots.practice import *  # noqa: F401,F403
