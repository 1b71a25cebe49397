"""Sustainability: energy, carbon (operational + embodied) and water (on-site + off-site).

Power covers the whole node, not only the accelerator: ``system_power`` is the node's
maximum power per accelerator slot (CPUs, memory, NICs, fans, switches' share; DGX H100:
10.2 kW / 8), scaled by ``power_fraction`` (average over maximum); ``power_accounting="gpu_tdp"``
counts accelerator TDP only, as model cards do. Facility energy adds the cooling and
power-distribution overhead through the facility's PUE (a modern AI data centre by default;
the region's typical figure with ``pue_source="region"``). Carbon is
location-based (energy × grid intensity) plus the embodied carbon of the hardware,
amortised over its lifetime. Water is on-site cooling water (WUE × IT energy) plus the
off-site water consumed to generate the electricity (EWIF × facility energy).

Region columns stay in their catalog units (gCO2e/kWh, L/kWh): kernels convert the
energy with :data:`J_PER_KWH`.

References
----------
Patterson et al. 2021, "Carbon Emissions and Large Neural Network Training",
arXiv:2104.10350, Tables 3–4. Luccioni, Viguier, Ligozat 2022, "Estimating the Carbon
Footprint of BLOOM", arXiv:2211.02001. Li, Yang, Islam, Ren 2023, "Making AI Less
'Thirsty'", arXiv:2304.03271. Epoch AI, epoch-research/training-cost-trends
(``cost_analysis_standalone.py``: average/TDP power 0.75 for GPUs).
"""

from __future__ import annotations

from .base import solver, where

__all__ = ["power", "carbon_footprint", "water_footprint", "J_PER_KWH", "SECONDS_PER_YEAR", "FACILITY_PUE"]

#: Joules in one kilowatt-hour (region intensities and prices are per kWh).
J_PER_KWH = 3.6e6
#: Seconds in a Julian year (365.25 days), the year of ``pint``'s ``year``.
SECONDS_PER_YEAR = 365.25 * 86_400


#: Facility PUE when none is given: modern AI / hyperscale data centre (see ``facility_pue``).
FACILITY_PUE = 1.1


@solver(("it_power", "it_energy", "pue_applied", "energy", "energy_per_token"))
def power(gpus, system_power, wall_time, pue, tokens_total, power_fraction, facility_pue, pue_source,
          power_accounting, tdp=float("nan")):
    """Average IT power and IT / facility energy of the job.

    ``power_accounting="node"``: ``P_IT = gpus · system_power · power_fraction``;
    ``"gpu_tdp"``: ``P_IT = gpus · tdp``. ``E_IT = P_IT · wall_time``; ``E = PUE · E_IT`` with
    ``PUE = facility_pue`` (or the region's ``pue`` with ``pue_source="region"``);
    ``energy_per_token = E / tokens_total``.

    Parameters
    ----------
    gpus : int or array
        Accelerators (the job holds their whole nodes' share of power).
    system_power : float or array
        Node maximum power per accelerator slot incl. host share (W).
    wall_time : float or array
        Wall-clock time of the job incl. failures and restarts (s).
    pue : float or array
        The region's typical PUE (catalog; used with ``pue_source="region"``).
    tokens_total : float or array
        Tokens processed (training) or produced (serving) (token).
    power_fraction : float
        Average over maximum node power (dimensionless), default 0.75.
    tdp : float or array
        Accelerator thermal design power (W; hardware catalog), for ``"gpu_tdp"``.
    facility_pue : float
        PUE of the facility, default 1.1.
    pue_source : {"facility", "region"}
    power_accounting : {"node", "gpu_tdp"}

    Returns
    -------
    it_power : W
    it_energy : J
    pue_applied : dimensionless
    energy : J (facility)
    energy_per_token : J/token

    References
    ----------
    Patterson et al. 2021, arXiv:2104.10350, Table 4 (MWh = hours × chips × average power ×
    PUE); Luccioni et al. 2022, arXiv:2211.02001 Table 1 (GPU-hours × TDP); Touvron et al. 2023
    (Llama 2, arXiv:2307.09288) §2.2.1 and Meta's Llama 3 / 3.1 model cards (GPU-hours × TDP,
    no PUE); Epoch AI cost model (0.75 average/TDP; DGX H100 10.2 kW for 8 GPUs; PUE 1.1).

    GPT-3 (Patterson Table 4): 10,000 V100 at 330 W average for 14.8 days, PUE 1.1:

    >>> out = power.kernel(10_000, 330.0, 14.8 * 86_400, 1.58, 1.0, 1.0)
    >>> print(f"{out['energy'] / J_PER_KWH / 1e3:.0f} MWh")
    1289 MWh
    """
    node = gpus * system_power * power_fraction
    it_power = where(power_accounting == "gpu_tdp", gpus * tdp, node)
    applied = where(pue_source == "region", pue, facility_pue)
    it_energy = it_power * wall_time
    energy = it_energy * applied
    return {"it_power": it_power, "it_energy": it_energy, "pue_applied": applied, "energy": energy,
            "energy_per_token": energy / tokens_total}


@solver(("carbon_operational", "carbon_embodied", "carbon", "carbon_per_mtoken"))
def carbon_footprint(energy, carbon_intensity, gpus, gpus_per_node, embodied_carbon, wall_time, tokens_total,
                     server_embodied_carbon, hardware_lifetime):
    """Operational plus embodied carbon of a job.

    ``C_op = E · CI`` (E in kWh); ``C_emb = (gpus·e_gpu + gpus/G·e_server) · wall_time / T_life``;
    ``C = C_op + C_emb``; per million tokens ``C / tokens_total · 1e6``.

    Parameters
    ----------
    energy : float or array
        Facility energy (J).
    carbon_intensity : float or array
        Grid carbon intensity, location-based (gCO2e/kWh).
    gpus : int or array
        Accelerators.
    gpus_per_node : int or array
        Accelerators per server (shares the server's embodied carbon).
    embodied_carbon : float or array
        Embodied carbon per accelerator (gCO2e).
    wall_time : float or array
        Time the hardware is held by the job (s).
    tokens_total : float or array
        Tokens processed or produced (token).
    server_embodied_carbon : float
        Embodied carbon per server without accelerators (gCO2e), default 2.5e6.
    hardware_lifetime : float
        Amortisation lifetime (s), default 5 years.

    Returns
    -------
    carbon_operational, carbon_embodied, carbon : gCO2e
    carbon_per_mtoken : gCO2e per million tokens

    References
    ----------
    Patterson et al. 2021 §2 (location-based, energy × grid intensity); Luccioni et al. 2022
    (embodied: 150 kgCO2e per A100, 2,500 kgCO2e per server, amortised by time used).

    GPT-3: 1,287 MWh at 429 gCO2e/kWh (Patterson Table 4, 552 t), embodied set to zero:

    >>> out = carbon_footprint.kernel(1_287e3 * J_PER_KWH, 429.0, 10_000, 8, 0.0, 1.0, 1.0, 0.0, 1.0)
    >>> print(f"{out['carbon_operational'] / 1e6:.0f} tCO2e")
    552 tCO2e
    """
    operational = energy / J_PER_KWH * carbon_intensity
    per_gpu = embodied_carbon + server_embodied_carbon / gpus_per_node
    embodied = gpus * per_gpu * wall_time / hardware_lifetime
    total = operational + embodied
    return {"carbon_operational": operational, "carbon_embodied": embodied, "carbon": total,
            "carbon_per_mtoken": total / tokens_total * 1e6}


@solver(("water_onsite", "water_offsite", "water"))
def water_footprint(it_energy, energy, wue, ewif):
    """On-site and off-site water consumption of a job.

    ``W_on = E_IT · WUE``; ``W_off = E · EWIF`` (E = PUE · E_IT, energies in kWh);
    ``W = W_on + W_off``. A region without an EWIF figure gives NaN (unknown), not 0.

    Parameters
    ----------
    it_energy : float or array
        IT energy (J).
    energy : float or array
        Facility energy (J).
    wue : float or array
        On-site water usage effectiveness (L/kWh of IT energy).
    ewif : float or array
        Energy water intensity factor of the grid's generation mix (L/kWh).

    Returns
    -------
    water_onsite, water_offsite, water : L

    References
    ----------
    Li, Yang, Islam, Ren 2023, arXiv:2304.03271 (``W = E_IT·WUE_on + E_IT·PUE·EWIF_off``).

    >>> out = water_footprint.kernel(1e3 * J_PER_KWH, 1.1e3 * J_PER_KWH, 0.5, 3.0)
    >>> print(f"{out['water_onsite']:.0f} L + {out['water_offsite']:.0f} L = {out['water']:.0f} L")
    500 L + 3300 L = 3800 L
    """
    onsite = it_energy / J_PER_KWH * wue
    offsite = energy / J_PER_KWH * ewif
    return {"water_onsite": onsite, "water_offsite": offsite, "water": onsite + offsite}
