"""The exact FCFS replay agrees with Erlang C over many synthetic M/M/c jobs (no workers)."""

from __future__ import annotations

import random
import statistics

import pytest

from tests.queueing import (
    erlang_c_probability,
    erlang_c_wait,
    fcfs_waits,
    ks_critical,
    ks_exponential,
    mean_critical,
)

JOBS = 500_000


def test_erlang_c_matches_a_published_value() -> None:
    # c = 2, a = 1: C = 1/3 (textbook value); Wq = C / (c mu - lambda) with mu = 1 → 1/3.
    assert erlang_c_probability(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c_wait(2, 1.0, 1.0) == pytest.approx(1 / 3)
    # c = 1 is M/M/1: P(wait) = rho, Wq = rho / (mu - lambda).
    assert erlang_c_wait(1, 0.5, 1.0) == pytest.approx(1.0)


@pytest.mark.parametrize(("servers", "rho"), [(4, 0.8), (1, 0.7), (8, 0.85)])
def test_replay_of_synthetic_mmc_agrees_with_erlang_c(servers: int, rho: float) -> None:
    rng = random.Random(20250404 + servers)
    mu = 2.0
    lam = rho * servers * mu
    t, arrivals = 0.0, []
    for _ in range(JOBS):
        t += rng.expovariate(lam)
        arrivals.append(t)
    holds = [rng.expovariate(mu) for _ in range(JOBS)]
    measured = statistics.fmean(fcfs_waits(arrivals, holds, servers))
    assert measured == pytest.approx(erlang_c_wait(servers, lam, mu), rel=0.05)


def test_ks_accepts_exponential_samples_and_rejects_others() -> None:
    rng = random.Random(1)
    exponential = [rng.expovariate(2.0) for _ in range(2000)]
    uniform = [rng.uniform(0, 1) for _ in range(2000)]
    critical = ks_critical(2000, 0.001)
    assert ks_exponential(exponential, 2.0) < critical
    assert ks_exponential(uniform, 2.0) > critical


def test_the_mean_bound_is_crossed_by_chance_as_often_as_its_significance_says() -> None:
    rng = random.Random(7)
    draws, trials, alpha, mean = 1000, 4000, 0.05, 0.5
    bound = mean_critical(draws, mean, alpha)
    crossed = sum(
        abs(statistics.fmean(rng.expovariate(1 / mean) for _ in range(draws)) - mean) >= bound
        for _ in range(trials)
    )
    assert 0.035 <= crossed / trials <= 0.065  # alpha, give or take four standard errors
    assert mean_critical(draws, mean, 0.001) == pytest.approx(0.104 * mean, rel=0.01)
