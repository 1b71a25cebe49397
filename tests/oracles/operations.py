"""Scalar reference of the operations domains (reliability, sustainability, economics).

One configuration at a time, plain Python floats and the ``math`` module, written from the
formulas in the physics reference (§7, §9, §10) without looking at the vectorised kernels.
Tests compare the vectorised solvers with these functions at random points.
"""

from __future__ import annotations

import math

KWH = 3.6e6  # J
YEAR = 365.25 * 86400.0  # s
HOUR = 3600.0  # s


def reliability(gpus, wall_time_ideal, params, weight_bytes, host_bandwidth, *, rate, state_bytes,
                storage_bandwidth, restart):
    """Fleet MTBF, checkpoint size/time/interval (Daly Eq. 37), Daly's U, wall time, failures."""
    mtbf = 1.0 / (gpus * rate)
    size = params * (state_bytes + weight_bytes)
    delta = size / min(gpus * host_bandwidth, storage_bandwidth)
    if delta < 2.0 * mtbf:
        x = delta / (2.0 * mtbf)
        tau = math.sqrt(2.0 * delta * mtbf) * (1.0 + math.sqrt(x) / 3.0 + x / 9.0) - delta
    else:
        tau = mtbf
    useful = (tau / mtbf) * math.exp(-restart / mtbf) / (math.exp((tau + delta) / mtbf) - 1.0)
    wall = wall_time_ideal / useful
    failures = wall / mtbf
    return {"fleet_mtbf": mtbf, "checkpoint_size": size, "checkpoint_time": delta,
            "checkpoint_interval": tau, "goodput": useful, "wall_time": wall,
            "expected_failures": failures, "failure_probability": 1.0 - math.exp(-failures)}


def first_order_waste(tau, delta, restart, mtbf):
    """``1 − U ≈ δ/τ + (τ+δ)/2M + R/M`` (checkpoint writes, lost work, restarts)."""
    return delta / tau + (tau + delta) / (2.0 * mtbf) + restart / mtbf


def sustainability(gpus, system_power, power_fraction, wall_time, pue, carbon_intensity, wue, ewif,
                   embodied_gpu, embodied_server, gpus_per_node, lifetime, tokens):
    """Energy (J), carbon (gCO2e) and water (L) of one job; intensities per kWh."""
    it_power = gpus * system_power * power_fraction
    it_energy = it_power * wall_time
    energy = it_energy * pue
    kwh = energy / KWH
    operational = kwh * carbon_intensity
    nodes = gpus / gpus_per_node
    embodied = (gpus * embodied_gpu + nodes * embodied_server) * wall_time / lifetime
    onsite = it_energy / KWH * wue
    offsite = kwh * ewif
    return {"it_power": it_power, "it_energy": it_energy, "energy": energy,
            "energy_per_token": energy / tokens,
            "carbon_operational": operational, "carbon_embodied": embodied,
            "carbon": operational + embodied, "carbon_per_mtoken": (operational + embodied) / tokens * 1e6,
            "water_onsite": onsite, "water_offsite": offsite, "water": onsite + offsite}


def economics(gpus, price, wall_time, energy, tokens, electricity_price, *, server_factor, interconnect_share,
              amortization, utilization, fallback_price, maintenance_per_year, cloud_price):
    """Capex, amortised capex, opex, TCO (USD), owned USD/GPU-h, cloud cost, USD per M tokens."""
    capex = gpus * price * server_factor / (1.0 - interconnect_share)
    amortized = capex * wall_time / (amortization * utilization)
    unit_price = fallback_price if math.isnan(electricity_price) else electricity_price
    opex_energy = energy / KWH * unit_price
    maintenance = capex * maintenance_per_year * wall_time / YEAR
    tco = amortized + opex_energy + maintenance
    gpu_hours = gpus * wall_time / HOUR
    return {"capex": capex, "capex_amortized": amortized, "opex_energy": opex_energy,
            "opex_maintenance": maintenance, "opex": opex_energy + maintenance, "tco": tco,
            "gpu_hour_cost": tco / gpu_hours, "cloud_cost": gpu_hours * cloud_price,
            "cost_per_mtoken": tco / tokens * 1e6}
