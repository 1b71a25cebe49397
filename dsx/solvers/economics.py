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
from .base import Input, solver, where
from .sustainability import J_PER_KWH, SECONDS_PER_YEAR

__all__ = ["capital", "rental_price", "operating_cost", "SECONDS_PER_HOUR"]

#: Seconds in an hour (cloud prices are per GPU-hour).
SECONDS_PER_HOUR = 3600.0


@solver({"capex": ("USD", "all-in purchase cost of the job's accelerators, servers and network"),
         "capex_amortized": ("USD", "share of the capex used by this job's wall time")})
def capital(gpus, price, wall_time,
            server_cost_factor=Input(
                1.64, "",
                "Server cost over accelerator price (CPUs, memory, chassis, node NICs). Default: Epoch AI's "
                "factor for accelerators other than A100 (1.66), V100 (1.69), P100 (1.54) "
                "(epoch-research/training-cost-trends cost_analysis_standalone.py; physics reference §10). "
                "Set 1 if price already is a per-GPU share of a whole server (e.g. DGX price / 8)",
                minimum=1.0),
            interconnect_cost_share=Input(
                0.19, "",
                "Cluster interconnect share of the total cluster cost. Default: Epoch AI "
                "CLUSTER_INTERCONNECT_COST_FRACTION = 0.19 (epoch-research/training-cost-trends "
                "cost_analysis_standalone.py); Cottier et al. 2024 give 9-13 % of hardware + energy cost "
                "(secondary)", minimum=0.0, maximum=1.0, exclusive_maximum=True),
            amortization_period=Input(
                5 * SECONDS_PER_YEAR, "s",
                "Straight-line depreciation period of the hardware. Default 5 years: Epoch AI's server "
                "lifetime for hardware from 2023 on (3 y <=2020, 4 y 2021-22; get_server_lifetime() in "
                "epoch-research/training-cost-trends cost_analysis_standalone.py). Epoch's own training-cost "
                "method depreciates at 0.14 OOM/year, i.e. ~3.1 years. Pass e.g. '4 year'", minimum=0.0, exclusive_minimum=True),
            fleet_utilization=Input(
                1.0, "",
                "Fraction of its life the hardware does paid work; the job also pays for the idle rest. "
                "Default 1 (idle time charged to nobody); Meta's RSC clusters ran at 0.83-0.85 (Kokolis "
                "et al. 2024, arXiv:2410.21680, secondary)", minimum=0.0, exclusive_minimum=True, maximum=1.0)):
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


@solver({"listed_cloud_price": ("USD/h", "listed rental price per accelerator-hour at the chosen cloud and tier")})
def rental_price(hardware="",
                 cloud=Input("median", None,
                             "Cloud whose rental price the cloud alternative pays: a provider (aws, gcp, azure, "
                             "lambda, runpod, ...) or the median, lowest or highest over the providers that list "
                             "the accelerator (dsx/catalog/data/cloud_prices.csv, each row with its source and "
                             "date). Default: median",
                             choices=(*prices.AGGREGATES, *prices.clouds())),
                 cloud_tier=Input("on-demand", None,
                                  "Rental tier: on-demand, reserved-1y / reserved-3y (commitments), capacity-block "
                                  "(AWS reserved blocks) or spot. Default: on-demand", choices=prices.TIERS)):
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

    >>> float(rental_price.kernel("H100-SXM", "lambda", "on-demand")["listed_cloud_price"])
    3.29
    """
    return {"listed_cloud_price": prices.lookup(hardware, cloud, cloud_tier)}


@solver({"opex_energy": ("USD", "facility energy bought at the region's electricity price"),
         "opex_maintenance": ("USD", "hardware maintenance during the job"),
         "opex": ("USD", "operating cost: energy + maintenance"),
         "tco": ("USD", "total cost of ownership of the job: amortised capex + opex"),
         "gpu_hour_cost": ("USD/h", "all-in owned cost per GPU-hour"),
         "cloud_cost": ("USD", "cost of renting the same GPU-hours in the cloud"),
         "cloud_rate": ("USD/h", "rental price per accelerator-hour the cloud alternative pays"),
         "cost_per_mtoken": ("USD/Mtoken", "owned cost (TCO) per million tokens"),
         "cloud_cost_per_mtoken": ("USD/Mtoken", "rented cost per million tokens")})
def operating_cost(energy, capex, capex_amortized, gpus, wall_time, tokens_total,
                   electricity_price=np.nan,
                   electricity_price_default=Input(
                       0.0826, "USD/kWh",
                       "Electricity price used only where the region has none (NaN). Default: US industrial "
                       "average 2025, 0.0826 USD/kWh (EIA, as used in Epoch AI's cost model "
                       "cost_analysis_standalone.py energy_price())", minimum=0.0, exclusive_minimum=True),
                   maintenance_rate=Input(
                       0.05 / SECONDS_PER_YEAR, "1/s",
                       "Maintenance cost as a fraction of capex per unit time. Default 5 %/year, the figure "
                       "mlsysim 0.1.1 uses; unverified (no published anchor, physics reference §10). "
                       "Pass e.g. '0.05 / year'", minimum=0.0),
                   cloud_price=Input(
                       np.nan, "USD/h",
                       "Cloud rental price per accelerator-hour; sweep it as an axis to compare offers. Default "
                       "NaN: the hardware's listed price at `cloud` / `cloud_tier` (listed_cloud_price; e.g. "
                       "H100 SXM on demand, 2025-03: 2.45-3.95 USD/h at smaller clouds, 10.00-12.29 at Oracle, "
                       "Google, AWS; median 4.03)", minimum=0.0, exclusive_minimum=True),
                   listed_cloud_price=np.nan):
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

    >>> out = operating_cost.kernel(1e6 * J_PER_KWH, 1e6, 1e5, 8, 3.6e6, 1e9, float("nan"),
    ...                             0.08, 0.0, 3.0)
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
