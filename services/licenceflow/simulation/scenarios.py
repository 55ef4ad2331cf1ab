"""Scenarios: how the simulated authority behaves, as data (`scenarios/<name>.toml`).

A scenario names its sources and assumptions, the arrival rate, each desk's officers and
service-time distribution, outcome probabilities and how they shift by element, end use and
destination, the requests-for-information share and the exporters' answer times, and the
temporary-licence policy. Durations are in days of the scenario's clock: working days
(`clock = "working_days"`) or plain 24-hour days (`clock = "continuous"`)."""

from __future__ import annotations

import math
import random
from importlib import resources
from typing import Annotated, Literal

import msgspec

Share = Annotated[float, msgspec.Meta(ge=0, le=1)]
Positive = Annotated[float, msgspec.Meta(gt=0)]


class Spec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of the scenario structs: strict, so a typo in a TOML file is an error."""


class Duration(Spec, frozen=True, kw_only=True):
    """A random duration in days: exponential, lognormal (mean and sigma of the log), uniform
    (between low and high) or fixed."""

    distribution: Literal["exponential", "lognormal", "uniform", "fixed"]
    mean: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    sigma: Annotated[float, msgspec.Meta(ge=0)] = 0.5
    low: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    high: Annotated[float, msgspec.Meta(ge=0)] = 0.0

    def sample(self, rng: random.Random) -> float:
        match self.distribution:
            case "exponential":
                return rng.expovariate(1 / self.mean) if self.mean > 0 else 0.0
            case "lognormal":  # parametrised by its mean: mu = ln(mean) - sigma^2 / 2
                mu = math.log(self.mean) - self.sigma**2 / 2
                return rng.lognormvariate(mu, self.sigma)
            case "uniform":
                return rng.uniform(self.low, self.high)
            case "fixed":
                return self.mean


class Arrivals(Spec, frozen=True, kw_only=True):
    per_day: Positive
    """Mean applications filed per day of the scenario's clock (Poisson arrivals)."""


class Intake(Spec, frozen=True, kw_only=True):
    """The local commerce department's pre-check: accept, or reject an incomplete file."""

    officers: Annotated[int, msgspec.Meta(ge=1)]
    service: Duration
    incomplete_share: Share = 0.0


class Review(Spec, frozen=True, kw_only=True):
    officers: Annotated[int, msgspec.Meta(ge=1)]
    service: Duration
    request_info_share: Share = 0.0
    referral_share: Share = 0.0
    referral: Duration = Duration(distribution="fixed", mean=0.0)
    """How long a referral (e.g. security review) keeps a case before it is decided."""


class Outcomes(Spec, frozen=True, kw_only=True):
    """Relative weights of the final decisions; `temporary_share` of approvals are temporary."""

    approve: Annotated[float, msgspec.Meta(ge=0)]
    reject: Annotated[float, msgspec.Meta(ge=0)]
    temporary_share: Share = 0.0
    valid_months: Annotated[int, msgspec.Meta(ge=1, le=12)] = 12


class Match(Spec, frozen=True, kw_only=True):
    element: str | None = None
    end_use_category: str | None = None
    destination: str | None = None


class Modifier(Spec, frozen=True, kw_only=True):
    """Shifts for the applications it matches: slower service, fewer approvals, more temporary
    licences."""

    when: Match
    service_factor: Positive = 1.0
    approval_factor: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    temporary_share: Share | None = None
    note: str = ""


class Exporters(Spec, frozen=True, kw_only=True):
    """How the simulated compliance teams answer requests for information."""

    answer: Duration
    answer_share: Share = 1.0


class Mix(Spec, frozen=True, kw_only=True):
    """What the simulated exporters file: weights by element, destination and end use."""

    elements: dict[str, Positive]
    destinations: dict[str, Positive]
    end_uses: dict[str, Positive]
    lines: Annotated[tuple[int, int], msgspec.Meta()] = (1, 3)
    quantity_kg: tuple[float, float] = (50.0, 5000.0)


class Scenario(Spec, frozen=True, kw_only=True):
    name: str
    description: str
    sources: list[str]
    assumptions: list[str]
    seed: int = 2025
    clock: Literal["working_days", "continuous"] = "working_days"
    arrivals: Arrivals
    intake: Intake | None = None
    review: Review
    outcomes: Outcomes
    modifiers: list[Modifier] = []
    exporters: Exporters
    mix: Mix

    def desks(self) -> dict[str, int]:
        """Officers per desk (= worker slots per queue)."""
        return {"review": self.review.officers} | (
            {"intake": self.intake.officers} if self.intake else {}
        )


def names() -> list[str]:
    folder = resources.files(__package__).joinpath("scenarios")
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load(name: str) -> Scenario:
    if name not in names():
        raise ValueError(f"no scenario {name!r}; there are {', '.join(names())}")
    text = resources.files(__package__).joinpath("scenarios", f"{name}.toml").read_bytes()
    return msgspec.toml.decode(text, type=Scenario)
