"""Synthetic per-shipment applications, as a compliance team would file them: realistic
parties, goods (elements in the forms they trade in, with matching HS codes), quantities and
prices, drawn from a scenario's mix with a seeded generator."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from licenceflow.simulation.scenarios import Mix

# Form, HS code (China's 10-digit lines where known) and price in USD per kg, by element.
GOODS: dict[str, list[tuple[str, str, int]]] = {
    "Dy": [
        ("oxide", "2846901940", 230),
        ("metal", "2805301910", 300),
        ("magnet", "8505111000", 90),
    ],
    "Tb": [
        ("oxide", "2846901940", 900),
        ("metal", "2805301910", 1100),
        ("magnet", "8505111000", 95),
    ],
    "Sm": [("oxide", "2846901993", 5), ("magnet", "8505111000", 60), ("target", "8486909110", 400)],
    "Gd": [("oxide", "2846901940", 25), ("metal", "2805301910", 60), ("compound", "2846.90", 30)],
    "Y": [("oxide", "2846901940", 8), ("metal", "2805301910", 40), ("compound", "2846.90", 12)],
    "Lu": [("oxide", "2846901940", 800), ("target", "8486909110", 2500)],
    "Sc": [("oxide", "2846901940", 1000), ("alloy", "2805301910", 150)],
}
MAGNET_CONSTITUENTS = {"Dy": ["Nd", "Fe", "B"], "Tb": ["Nd", "Fe", "B"], "Sm": ["Co"]}
EXPORTERS = [
    "Baotou Magnet Works",
    "Ganzhou Rare Earth Materials",
    "Ningbo Permanent Magnetics",
    "Xiamen Tungsten & Rare Earth",
    "Sichuan Lanthanide Trading",
    "Jiangxi Heavy RE Refining",
]
CONSIGNEES = {
    "DE": ["Magnetwerk GmbH", "Vacuumtechnik Hanau GmbH"],
    "US": ["Permag Components Inc"],
    "JP": ["Shin-Kyo Materials KK"],
    "KR": ["Hanil Motor Parts Co"],
    "FR": ["Aimants de Lyon SA"],
    "IT": ["Magneti Torino SpA"],
    "IN": ["Pune Drives Pvt Ltd"],
}
END_USES = {
    "automotive": "traction motors for passenger EVs",
    "electronics": "voice-coil motors for hard-disk drives",
    "energy": "permanent-magnet generators for offshore wind turbines",
    "medical": "MRI contrast agent precursors",
    "research": "laboratory samples for materials research",
    "defence": "guidance actuators",
    "other": "phosphors for industrial lighting",
}
PORTS = ["Tianjin", "Shanghai", "Ningbo", "Qingdao", "Shenzhen", "Xiamen"]


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def application(mix: Mix, rng: random.Random, today: date) -> dict[str, Any]:
    """One application body (JSON-ready) for `POST /v1/applications` with `submit: true`."""
    destination = _pick(rng, mix.destinations)
    end_use = _pick(rng, mix.end_uses)
    lines = []
    for _ in range(rng.randint(*mix.lines)):
        element = _pick(rng, mix.elements)
        form, hs_code, price = rng.choice(GOODS.get(element, [("oxide", "2846.90", 100)]))
        kg = Decimal(str(rng.uniform(*mix.quantity_kg))).quantize(Decimal("0.001"))
        line: dict[str, Any] = {
            "element": element,
            "form": form,
            "hs_code": hs_code,
            "quantity_kg": str(kg),
            "value": str((kg * price).quantize(Decimal("0.01"))),
            "currency": "USD",
        }
        if form in ("magnet", "alloy") and element in MAGNET_CONSTITUENTS:
            line["contains"] = MAGNET_CONSTITUENTS[element]
        lines.append(line)
    consignee = rng.choice(CONSIGNEES.get(destination, [f"Importer {destination} Ltd"]))
    return {
        "exporter": {"name": rng.choice(EXPORTERS), "country": "CN"},
        "consignee": {"name": consignee, "country": destination},
        "end_user": {"name": consignee, "country": destination},
        "end_use": END_USES[end_use],
        "end_use_category": end_use,
        "destination_country": destination,
        "transport_mode": rng.choices(["sea", "air", "rail"], weights=[6, 3, 1])[0],
        "customs_port": rng.choice(PORTS),
        "planned_ship_date": (today + timedelta(days=rng.randint(30, 90))).isoformat(),
        "contract_ref": f"PO-{rng.randint(10000, 99999)}",
        "lines": lines,
        "submit": True,
    }
