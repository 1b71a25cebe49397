"""docs/anchor-comparison.md is what docs/anchor_comparison.py writes from the live stack, and the
seed job's physics is the corrected one (seed_outputs.md §5)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

import dsx
from dsx.analysis import sensitivity
from dsx.solvers.base import INPUTS
from dsx.stacks import TRAINING

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("anchor_comparison", ROOT / "docs" / "anchor_comparison.py")
anchor = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = anchor   # dataclasses look their module up by name
_spec.loader.exec_module(anchor)


@pytest.fixture(scope="module")
def results():
    return anchor.evaluate()


@pytest.fixture(scope="module")
def seed(results):
    return results.audit


def test_committed_page_matches_the_stack(results):
    committed = anchor.PAGE.read_text(encoding="utf-8")
    fresh = anchor.render(results)
    if committed != fresh:
        old, new = committed.splitlines(), fresh.splitlines()
        diff = [f"- {a}\n+ {b}" for a, b in zip(old, new) if a != b][:5]
        pytest.fail("docs/anchor-comparison.md is stale; run `python docs/anchor_comparison.py`.\n"
                    + "\n".join(diff) + (f"\n({len(old)} vs {len(new)} lines)" if len(old) != len(new) else ""))


def test_page_covers_every_printed_seed_figure():
    page = anchor.PAGE.read_text(encoding="utf-8")
    printed = ["70.6 Bparam", "900 GB / s", "400 Gbps", "3,089.6 ms", "1 / second samples/s", "8.00e-03 GB/s",
               "525,002.3 EFLOP", "1.24e+12", "17.6", "96.30%", "9,625.2 ms", "145.9 ms", "334.6 ms", "0.00%",
               "83.71 h", "99.98%", "8.6", "141.7 min", "$420,822", "$19,038", "$63,123", "$502,983",
               "149.7 MWh", "158.6 MWh", "3173 kg CO2", "0 liters", "1.06", "0.706 TB/s", "1.41 TFLOPs/s",
               "141.2 GB", "+0.0000"]
    missing = [p for p in printed if p not in page]
    assert not missing, missing


def test_node_is_compute_bound_and_fits(seed):
    assert dsx.decode(seed.bound).item() == "compute"
    assert float(seed.arithmetic_intensity) > float(seed.ridge_intensity)
    assert float(seed.mb_compute_time) > float(seed.mb_memory_time)
    assert bool(seed.feasible) and dsx.decode(seed.reason).item() == ""
    assert float(seed.memory_per_gpu) < float(seed.hbm_capacity)


def test_poland_emits_tens_of_times_quebec(results):
    q, p = results.audit, results.poland
    ratio = float(p.carbon / q.carbon)
    assert 10 < ratio < 100, ratio
    # operational carbon scales by carbon intensity x the PUE applied (same energy at the IT level;
    # the facility's PUE by default since issue 8 item 5, so then by carbon intensity alone)
    expected = float(p.carbon_intensity * p.pue_applied / (q.carbon_intensity * q.pue_applied))
    assert float(p.carbon_operational / q.carbon_operational) == pytest.approx(expected, rel=1e-9)


def test_tp_comm_is_four_collectives_per_layer_at_per_direction_nvlink(seed):
    assert float(seed.scale_up_bandwidth) == pytest.approx(450e9)  # NVLink 4: 900 GB/s both directions
    # the bandwidth term alone: t(B) - t(2B) = n_c · L · (t-1)/t · V / (η·B) for a ring all-reduce of V bytes
    inputs = anchor.seed_space().to_dataset()
    faster = dsx.training(inputs.assign(scale_up_bandwidth=inputs.scale_up_bandwidth * 2))
    eff = INPUTS["link_efficiency"].default
    micro_batch = INPUTS["micro_batch"].default
    act = float(seed.seq_len) * micro_batch * float(seed.hidden) * 2.0   # one bf16 activation tensor (B)
    tp = float(seed.tp)
    per_collective = (tp - 1) / tp * act / (eff * float(seed.scale_up_bandwidth))
    collectives = float(seed.mb_tp_comm_time - faster.mb_tp_comm_time) / per_collective
    assert collectives / float(seed.layers_per_stage) == pytest.approx(4.0, rel=1e-6)


def test_dp_reduction_runs_on_the_scale_out_rail():
    s = sensitivity(TRAINING, anchor.seed_space(), output="dp_comm_time",
                    inputs=["scale_up_bandwidth", "scale_out_bandwidth"])
    e = dict(zip(map(str, s.input.values), map(float, s.elasticity.values)))
    assert e["scale_out_bandwidth"] < -0.95      # bandwidth term dominates, latency is small
    assert abs(e["scale_up_bandwidth"]) < 1e-6   # NVLink plays no part: the 64 peers are on 64 nodes


def test_tokens_per_s_counts_the_global_batch(seed):
    expected = float(seed.global_batch * seed.seq_len / seed.step_time)
    assert float(seed.tokens_per_s) == pytest.approx(expected, rel=1e-12)


def test_goodput_counts_lost_work(results):
    for ds in (results.audit, results.seed_ckpt):
        delta, tau, mtbf = float(ds.checkpoint_time), float(ds.checkpoint_interval), float(ds.fleet_mtbf)
        restart = INPUTS["restart_time"].default
        without_rework = delta / (tau + delta) + restart / mtbf     # what the seed subtracts
        rework = tau / (2 * mtbf)                                   # expected work redone per failure
        assert 1 - float(ds.goodput) > without_rework + 0.5 * rework


def test_embodied_carbon_and_offsite_water(seed):
    assert float(seed.carbon_embodied) > 0
    assert float(seed.carbon) == pytest.approx(float(seed.carbon_operational + seed.carbon_embodied))
    assert float(seed.water_onsite) == 0.0          # Quebec: no cooling water
    assert float(seed.water_offsite) > 0            # but generating the electricity uses water
    assert float(seed.water) == pytest.approx(float(seed.water_onsite + seed.water_offsite))


def test_sensitivity_of_the_sharded_step_is_not_a_tie_of_zeros(results):
    e = results.sens.elasticity.to_series()
    assert results.sens.binding.item() == "peak_flops"
    assert e["peak_flops"] < -0.3
    assert e["hbm_capacity"] == 0.0
    assert -1.0 - 1e-6 <= e.sum() <= -0.8           # ~ homogeneous of degree -1 in the rates (latencies aside)
