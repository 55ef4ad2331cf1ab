"""The seventeen rare earths, which of them are under export control and since when.

The table is `elements.csv` (shipped with the package, copied from the regime's published lists);
an element is controlled on a date when its `controlled_from` is set and not after that date.
Elements added in October 2025 and then suspended carry no `controlled_from`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import date
from importlib import resources

import msgspec


class Element(msgspec.Struct, frozen=True, kw_only=True):
    symbol: str
    name: str
    atomic_number: int
    group: str
    controlled_from: date | None
    control_code: str | None

    def controlled_on(self, day: date) -> bool:
        return self.controlled_from is not None and self.controlled_from <= day


def _load() -> dict[str, Element]:
    text = resources.files(__package__).joinpath("elements.csv").read_text(encoding="utf-8")
    return {
        row["symbol"]: Element(
            symbol=row["symbol"],
            name=row["name"],
            atomic_number=int(row["atomic_number"]),
            group=row["group"],
            controlled_from=date.fromisoformat(row["controlled_from"])
            if row["controlled_from"]
            else None,
            control_code=row["control_code"] or None,
        )
        for row in csv.DictReader(text.splitlines())
    }


RARE_EARTHS: dict[str, Element] = _load()

# Every chemical element's symbol: a magnet or alloy line may name non-rare-earth constituents.
CHEMICAL_SYMBOLS: frozenset[str] = frozenset(
    """H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge As
    Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm Sm Eu Gd
    Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn Fr Ra Ac Th Pa U Np Pu Am
    Cm Bk Cf Es Fm Md No Lr Rf Db Sg Bh Hs Mt Ds Rg Cn Nh Fl Mc Lv Ts Og""".split()  # noqa: SIM905
)


def any_controlled(symbols: Iterable[str], day: date) -> bool:
    """Whether any of these symbols is a rare earth under control on `day`."""
    return any(
        (element := RARE_EARTHS.get(symbol)) is not None and element.controlled_on(day)
        for symbol in symbols
    )
