"""Queueing arithmetic for validating the simulated authority against theory. Pure.

`erlang_c_wait` is the mean wait in queue of an M/M/c system; `fcfs_waits` replays a sequence of
arrivals through c first-come-first-served servers, each job holding its server for its hold
time, and gives every job's wait exactly (no sampling)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from statistics import NormalDist


def erlang_c_probability(servers: int, offered_load: float) -> float:
    """P(an arrival waits) for c servers and offered load a = lambda / mu (a < c)."""
    if offered_load >= servers:
        raise ValueError("unstable: the offered load must be below the number of servers")
    term, below = 1.0, 1.0  # a^k / k! for k = 0, summed over k < c
    for k in range(1, servers):
        term *= offered_load / k
        below += term
    top = term * offered_load / servers * servers / (servers - offered_load)
    return top / (below + top)


def erlang_c_wait(servers: int, arrival_rate: float, service_rate: float) -> float:
    """Mean wait in queue (before service) of an M/M/c queue: C(c, a) / (c mu - lambda)."""
    load = arrival_rate / service_rate
    return erlang_c_probability(servers, load) / (servers * service_rate - arrival_rate)


def fcfs_waits(arrivals: Sequence[float], holds: Sequence[float], servers: int) -> list[float]:
    """Each job's wait when the jobs, in arrival order, take the first free of `servers`."""
    free_at = [0.0] * servers
    waits = []
    for arrival, hold in zip(arrivals, holds, strict=True):
        start = max(arrival, heapq.heappop(free_at))
        waits.append(start - arrival)
        heapq.heappush(free_at, start + hold)
    return waits


def ks_exponential(samples: Sequence[float], rate: float) -> float:
    """Kolmogorov–Smirnov statistic D of `samples` against Exp(rate)."""
    ordered = sorted(samples)
    n = len(ordered)
    worst = 0.0
    for i, x in enumerate(ordered):
        cdf = 1.0 - math.exp(-rate * x)
        worst = max(worst, (i + 1) / n - cdf, cdf - i / n)
    return worst


def ks_critical(n: int, alpha: float) -> float:
    """The asymptotic critical value of D for `n` samples at significance `alpha`."""
    return math.sqrt(-math.log(alpha / 2) / 2) / math.sqrt(n)


def mean_critical(n: int, mean: float, alpha: float) -> float:
    """How far the mean of `n` exponential draws of mean `mean` may stray from it by chance at
    significance `alpha` (two-sided): the sample mean's standard error is `mean / √n`, and for
    n in the hundreds it is normal enough."""
    return NormalDist().inv_cdf(1 - alpha / 2) * mean / math.sqrt(n)
