"""Uncertainty as an axis: draws of uncertain inputs along a ``draw`` dimension.

An uncertain input becomes a variable with dimension ``draw``; every solver broadcasts it
like any other axis, so a result gains ``draw`` exactly where it depends on an uncertain
input, and quantiles are plain xarray (``ds.step_time.quantile([0.1, 0.9], dim="draw")``).

Where the spreads come from: ``dsx/catalog/data/uncertainty.csv`` (one row per input:
a log-normal factor around the nominal value, its ``sigma``, bounds and source). The nominal
value is whatever the configuration uses (the Input default, the catalog column or the
user's scalar), so the registry states *relative* uncertainty. A user distribution
(``dsx.Space(kernel_efficiency=dsx.normal(0.8, 0.05))``) replaces the registry entry, and a
fitted calibration (``calibration={"kernel_efficiency": (0.78, 0.01)}``, value and standard
error) replaces it with ``normal(value, stderr)``; the result of ``dsx.calibrate`` passed as
``calibration=`` is drawn with its predictive spread (standard error plus residual scatter).

Draws are seeded per input (``numpy.random.default_rng([seed, crc32(name)])``), so the same
seed gives the same draws in every chunk and adding an input does not shift the others.

References
----------
Saltelli et al. 2008, *Global Sensitivity Analysis: The Primer*, ch. 1 (Monte Carlo
propagation of input distributions); Gneiting & Raftery 2007, JASA 102(477) (central
intervals and their coverage).
"""

from .draws import (DEFAULT_DRAWS, DEFAULT_SEED, DIM, Distribution, lognormal, normal, registry, sample, sampler,
                    triangular, uniform)
from .results import (KEY_FIGURES, at_median, at_quantile, coverage, interval, parse_objective, probability,
                      summary)
from .spreads import FACTORS, factor_spreads, update_registry

__all__ = ["Distribution", "normal", "lognormal", "uniform", "triangular", "registry", "sample", "sampler",
           "probability", "interval", "coverage", "factor_spreads", "update_registry", "at_quantile", "at_median",
           "summary", "parse_objective", "DEFAULT_DRAWS", "DEFAULT_SEED", "DIM", "FACTORS", "KEY_FIGURES"]
