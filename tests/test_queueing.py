"""Queueing kernels vs closed forms, textbook values and a scalar reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import xarray as xr
from hypothesis import given
from hypothesis import strategies as st

from dsx.solvers import queueing as qu
from tests.oracles import serving as orc


@pytest.mark.parametrize("c, a, expected", [
    (1, 0.5, 0.5),            # M/M/1: C = ρ
    (2, 1.0, 1 / 3),          # a^2/2 / (1-1/2) = 1 ; 1 + 1 = 2 ; C = 1/3
    (3, 2.0, 4 / 9),          # (8/6)·3 = 4 ; 1 + 2 + 2 = 5 ; C = 4/9
    (10, 8.0, 0.4092),        # Erlang C tables: c = 10, a = 8 Erlang -> 0.4092
])
def test_erlang_c_textbook_values(c, a, expected):
    got = float(qu.erlang_c(c, a))
    print(f"C({c}, {a}) = {got:.4f} vs {expected:.4f}")
    assert got == pytest.approx(expected, abs=1e-3)


def test_mm1_closed_forms():
    lam, mu, q = 0.7, 1.0, 0.95
    rho = lam / mu
    assert float(qu.mmc_wait_mean(1, lam, mu)) == pytest.approx(rho / (mu - lam))
    assert float(qu.mm1_wait_mean(lam, mu)) == pytest.approx(rho / (mu - lam))
    # waiting-time quantile: P(W > w) = ρ e^{-(μ-λ) w}
    w = float(qu.wait_quantile(qu.erlang_c(1, rho), qu.mmc_wait_mean(1, lam, mu), q))
    assert w == pytest.approx(math.log(rho / (1 - q)) / (mu - lam))
    # sojourn time is Exp(μ − λ)
    assert float(qu.mmc_sojourn_quantile(1, lam, mu, q)) == pytest.approx(-math.log(1 - q) / (mu - lam), rel=1e-9)
    assert float(qu.mm1_sojourn_quantile(lam, mu, q)) == pytest.approx(-math.log(1 - q) / (mu - lam))


@pytest.mark.parametrize("lam", [2.5, 3.0])   # c − a − 1 ≠ 0 and the limit c − a − 1 = 0
def test_mmc_sojourn_quantile_inverts_the_tail(lam):
    c, mu, q = 4, 1.0, 0.99
    x = float(qu.mmc_sojourn_quantile(c, lam, mu, q))
    cw = orc.erlang_c(c, lam / mu)
    d, nu = c - lam / mu - 1, c * mu - lam - mu
    extra = cw * mu * x if d == 0 else cw / d * (1 - math.exp(-nu * x))
    tail = math.exp(-mu * x) * (1 + extra)
    assert tail == pytest.approx(1 - q, rel=1e-6)


def test_unstable_is_inf_and_saturated():
    assert float(qu.erlang_c(2, 2.5)) == 1.0
    assert math.isinf(float(qu.mmc_wait_mean(2, 2.5, 1.0)))
    r = qu.queueing.kernel(ttft=0.1, tpot=0.01, e2e_latency=1.0, request_capacity=1.0, batch=1,
                           arrival_rate=2.0, replicas=1, quantile=0.99, arrival_cv2=1.0,
                           service_cv2=1.0, ttft_slo=np.inf, tpot_slo=np.inf)
    assert bool(r["saturated"]) and not bool(r["ok_queue"]) and math.isinf(float(r["ttft_q"]))
    assert float(r["replicas_needed"]) == 3.0   # λ·S = 2 -> 3 replicas for ρ < 1


def test_allen_cunneen_reduces_to_kingman():
    lam, mu, ca2, cs2 = 0.6, 1.0, 0.5, 2.0
    kingman = (lam / mu) / (1 - lam / mu) * (ca2 + cs2) / 2 / mu
    got = float(qu.allen_cunneen_factor(ca2, cs2) * qu.mmc_wait_mean(1, lam, mu))
    assert got == pytest.approx(kingman)


def test_large_server_counts_do_not_overflow():
    c = np.array([100, 1000, 5000])
    a = 0.95 * c
    got = qu.erlang_c(c, a)
    ref = [orc.erlang_c(int(ci), float(ai)) for ci, ai in zip(c, a)]
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref, rtol=1e-8)


@given(c=st.integers(1, 300), rho=st.floats(0.01, 0.99), q=st.sampled_from([0.5, 0.9, 0.99]),
       factor=st.floats(0.25, 2.0))
def test_wait_matches_scalar_reference(c, rho, q, factor):
    mu = 0.5
    lam = rho * c * mu
    mean, wq = orc.wait(c, lam, mu, q, factor)
    pw = qu.erlang_c(c, lam / mu)
    got_mean = factor * qu.mmc_wait_mean(c, lam, mu, pw)
    got_q = qu.wait_quantile(pw, got_mean, q)
    assert float(got_mean) == pytest.approx(mean, rel=1e-8, abs=1e-12)
    assert float(got_q) == pytest.approx(wq, rel=1e-8, abs=1e-9)


@given(batch=st.integers(1, 64), lam=st.floats(0.1, 200.0), hold=st.floats(0.5, 20.0),
       slo=st.floats(0.2, 5.0), q=st.sampled_from([0.9, 0.99]))
def test_replicas_needed_matches_brute_force(batch, lam, hold, slo, q):
    ttft, tpot = 0.1, 0.01
    ref = orc.replicas_needed(batch, lam, hold, ttft, tpot, q, slo, np.inf)
    got = float(qu.replicas_for_slo(batch, lam, hold, ttft, tpot, q, slo, np.inf))
    assert (math.isnan(ref) and math.isnan(got)) or got == ref


def test_replicas_needed_vectorised_over_dataarrays():
    lam = xr.DataArray([1.0, 10.0, 100.0], dims="arrival_rate")
    slo = xr.DataArray([0.5, 2.0], dims="ttft_slo")
    got = qu.replicas_for_slo(8, lam, 4.0, 0.1, 0.01, 0.99, slo, np.inf)
    assert set(got.dims) == {"arrival_rate", "ttft_slo"}
    for i, l in enumerate(lam.values):
        for j, s in enumerate(slo.values):
            assert float(got.isel(arrival_rate=i, ttft_slo=j)) == orc.replicas_needed(8, l, 4.0, 0.1, 0.01, 0.99, s, np.inf)


def test_more_replicas_never_wait_longer():
    reps = np.arange(1, 30)
    r = qu.queueing.kernel(ttft=0.2, tpot=0.02, e2e_latency=5.0, request_capacity=16 / 5.0,
                           batch=16, arrival_rate=20.0, replicas=reps, quantile=0.99,
                           arrival_cv2=1.0, service_cv2=1.0, ttft_slo=np.inf, tpot_slo=np.inf)
    w = np.asarray(r["wait_time_q"])
    assert np.all(np.diff(w[np.isfinite(w)]) <= 1e-12)
    assert np.all(np.diff(np.asarray(r["utilization"])) < 0)
