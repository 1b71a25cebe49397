"""Analysis on dsx results: Pareto fronts, constrained optima, sensitivities, inverse design.

Every function works on whole labelled Datasets at once (no loop over configurations):

* :func:`pareto` / :func:`front_table` — non-dominated feasible configurations, per group;
* :func:`best` — the constrained optimum along chosen dimensions, per value of the others;
* :func:`sensitivity` — elasticities ``d ln y / d ln x`` by central differences on a stack;
* :func:`synthesize` — the smallest (largest) input value that meets a target, by
  simultaneous bisection.
"""

from .best import best
from .pareto import constraint_mask, front_table, pareto, pareto_kernel, register_where_parser
from .sensitivity import sensitivity
from .synthesis import synthesize

__all__ = ["pareto", "front_table", "best", "sensitivity", "synthesize", "pareto_kernel",
           "constraint_mask", "register_where_parser"]
