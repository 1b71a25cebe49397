"""Economics: all-in capex, its amortised share, energy and maintenance opex, TCO, cloud cost.

Capex per accelerator is all-in: the chip price times Epoch's server factor (CPUs, memory,
chassis, NICs of the node), divided by ``1 − interconnect share`` (cluster network). The job
pays the share of that purchase its wall time uses (straight-line over
``amortization_period``, divided by the fleet utilisation), the facility energy at the
region's own electricity price, and maintenance as a fraction of capex per year. The cloud
alternative rents the same GPU-hours at ``cloud_price``: by default the listed rental price of
the hardware at ``cloud`` / ``cloud_tier`` (:mod:`dsx.catalog.prices`, median over the
providers that list it on demand), or a price the user sets or sweeps.

References
----------
Cottier et al. 2024, "The rising costs of training frontier AI models", arXiv:2405.21015;
Epoch AI, epoch-research/training-cost-trends ``cost_analysis_standalone.py`` (server cost
factors, interconnect share 0.19, server lifetimes) and ``data/Hardware prices.csv`` (cloud
prices).
"""

from __future__ import annotations

import numpy as np

from ..catalog import prices
from .base import solver, where
from .sustainability import J_PER_KWH, SECONDS_PER_YEAR  # noqa: F401  (the doctests use it)

__all__ = ["capital", "rental_price", "operating_cost", "SECONDS_PER_HOUR"]

#: Seconds in an hour (cloud prices are per GPU-hour).
SECONDS_PER_HOUR = 3600.0


@solver(("capex", "capex_amortized"))
def capital(gpus, price, wall_time, server_cost_factor, interconnect_cost_share, amortization_period,
            fleet_utilization):
    """All-in capex of the job's hardware and the share the job uses.

    ``K = gpus · price · σ_server / (1 − f_ic)``;
    ``K_job = K · wall_time / (T_amort · u_fleet)``.

    Parameters
    ----------
    gpus : int or array
        Accelerators.
    price : float or array
        Purchase price per accelerator (USD).
    wall_time : float or array
        Time the job holds the hardware (s).
    server_cost_factor : float
        σ_server, default 1.64.
    interconnect_cost_share : float
        f_ic, default 0.19.
    amortization_period : float
        Depreciation period (s), default 5 years.
    fleet_utilization : float
        Busy fraction of the hardware's life, default 1.

    Returns
    -------
    capex : USD
    capex_amortized : USD

    References
    ----------
    Epoch AI ``cost_analysis_standalone.py`` (σ_server, f_ic, lifetimes); physics reference §10.

    512 H100 at 30,000 USD, 30 days of a 5-year life:

    >>> out = capital.kernel(512, 30_000.0, 30 * 86_400, 1.64, 0.19, 5 * SECONDS_PER_YEAR, 1.0)
    >>> print(f"{out['capex'] / 1e6:.2f} M USD, {out['capex_amortized'] / 1e3:.0f} k USD")
    31.10 M USD, 511 k USD
    """
    per_gpu = price * server_cost_factor / (1.0 - interconnect_cost_share)
    capex = gpus * per_gpu
    return {"capex": capex,
            "capex_amortized": capex * wall_time / (amortization_period * fleet_utilization)}


@solver(("listed_cloud_price",))
def rental_price(cloud, cloud_tier, hardware=""):
    """Listed rental price of the hardware per accelerator-hour.

    A lookup in the sourced price table (instance price / accelerators per instance); NaN
    where the hardware has no listing at that cloud and tier, so the cloud alternative is
    unknown rather than guessed.

    Parameters
    ----------
    hardware : str or array of str
        Hardware catalog id(s).
    cloud : str
        Provider or aggregate (``median``, ``lowest``, ``highest``).
    cloud_tier : str
        Tier.

    Returns
    -------
    listed_cloud_price : USD per accelerator-hour

    References
    ----------
    Epoch AI, epoch-research/training-cost-trends ``data/Hardware prices.csv`` (cloud listings
    with archived sources); provider price pages as cited per row.

    >>> float(rental_price.kernel(hardware="H100-SXM", cloud="lambda", cloud_tier="on-demand")["listed_cloud_price"])
    3.29
    """
    return {"listed_cloud_price": prices.lookup(hardware, cloud, cloud_tier)}


@solver(("opex_energy", "opex_maintenance", "opex", "tco", "gpu_hour_cost", "cloud_cost", "cloud_rate",
         "cost_per_mtoken", "cloud_cost_per_mtoken"))
def operating_cost(energy, capex, capex_amortized, gpus, wall_time, tokens_total, electricity_price_default,
                   maintenance_rate, cloud_price, electricity_price=np.nan, listed_cloud_price=np.nan):
    """Opex, TCO, owned cost per GPU-hour, cloud cost and cost per million tokens.

    ``opex_energy = E[kWh] · price_region`` (``electricity_price_default`` where the region's
    price is NaN); ``opex_maintenance = K · m · wall_time``; ``tco = K_job + opex``;
    ``gpu_hour_cost = tco / (gpus · wall_time[h])``; ``cloud_rate = cloud_price`` (the listed
    price where ``cloud_price`` is NaN); ``cloud_cost = gpus · wall_time[h] · cloud_rate``;
    ``cost_per_mtoken = tco / tokens_total · 1e6``; ``cloud_cost_per_mtoken = cloud_cost /
    tokens_total · 1e6``.

    Parameters
    ----------
    energy : float or array
        Facility energy (J).
    capex, capex_amortized : float or array
        All-in capex and the job's share (USD).
    gpus : int or array
        Accelerators.
    wall_time : float or array
        Wall-clock time of the job (s).
    tokens_total : float or array
        Tokens processed or produced (token).
    electricity_price : float or array
        Region's electricity price (USD/kWh); NaN where unknown.
    electricity_price_default : float
        Fallback price (USD/kWh), default 0.0826.
    maintenance_rate : float
        Fraction of capex per second (1/s), default 5 %/year.
    cloud_price : float
        USD per GPU-hour; NaN (default) takes ``listed_cloud_price``.
    listed_cloud_price : float
        Listed price of the hardware (USD per GPU-hour, from :func:`rental_price`).

    Returns
    -------
    opex_energy, opex_maintenance, opex, tco, cloud_cost : USD
    gpu_hour_cost, cloud_rate : USD per GPU-hour
    cost_per_mtoken, cloud_cost_per_mtoken : USD per million tokens

    References
    ----------
    Physics reference §10; Epoch AI cost model (energy price, cloud prices).

    1 GWh at the fallback price, 8 GPUs for 1,000 hours:

    >>> out = operating_cost.kernel(1e6 * J_PER_KWH, 1e6, 1e5, 8, 3.6e6, 1e9, electricity_price=float("nan"),
    ...                             electricity_price_default=0.08, maintenance_rate=0.0, cloud_price=3.0)
    >>> print(f"{out['opex_energy']:.0f} {out['tco']:.0f} {out['gpu_hour_cost']:.2f} {out['cloud_cost']:.0f}")
    80000 180000 22.50 24000
    """
    price = where(np.isnan(electricity_price), electricity_price_default, electricity_price)
    opex_energy = energy / J_PER_KWH * price
    opex_maintenance = capex * maintenance_rate * wall_time
    opex = opex_energy + opex_maintenance
    tco = capex_amortized + opex
    gpu_hours = gpus * wall_time / SECONDS_PER_HOUR
    rate = where(np.isnan(cloud_price), listed_cloud_price, cloud_price)
    cloud_cost = gpu_hours * rate
    return {"opex_energy": opex_energy, "opex_maintenance": opex_maintenance, "opex": opex, "tco": tco,
            "gpu_hour_cost": tco / gpu_hours, "cloud_cost": cloud_cost, "cloud_rate": rate,
            "cost_per_mtoken": tco / tokens_total * 1e6, "cloud_cost_per_mtoken": cloud_cost / tokens_total * 1e6}
