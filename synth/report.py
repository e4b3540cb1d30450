"""How a generated county compares with the programme report's figures (NHS Shropshire CCG, 2018)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from synth.codes import EMERGENCY_METHODS
from synth.population import (
    COUNTY_PEOPLE,
    LOCALITIES,
    LOCALITY_LTC,
    NEL_ADMISSIONS_A_YEAR,
    NEL_BY_LTC_COUNT,
    County,
)


def comparison(county: County) -> list[tuple[str, float, float]]:
    """(measure, generated, target scaled to the county's size) for each published figure."""
    scale = len(county.people) / COUNTY_PEOPLE
    people = Counter(p.practice.locality for p in county.people)
    with_ltc = Counter(p.practice.locality for p in county.people if p.conditions)
    since = county.as_of - timedelta(days=365)
    nel = [p for p in county.people for s in p.spells if s.method in EMERGENCY_METHODS and s.admitted >= since]
    by_ltc = Counter(len(p.conditions) for p in nel)
    rows: list[tuple[str, float, float]] = [("people aged 65+", len(county.people), COUNTY_PEOPLE * scale)]
    rows += [(f"  {name}", people[name], target * scale) for name, target in LOCALITIES.items()]
    rows.append(("with 1+ long-term condition", sum(with_ltc.values()), sum(LOCALITY_LTC.values()) * scale))
    rows += [(f"  {name}", with_ltc[name], target * scale) for name, target in LOCALITY_LTC.items()]
    rows.append(("non-elective admissions, last 12 months", len(nel), NEL_ADMISSIONS_A_YEAR * scale))
    rows += [(f"  people with {n} LTC", by_ltc[n], target * scale) for n, target in NEL_BY_LTC_COUNT.items()]
    return rows


def render(county: County) -> str:
    lines = [f"{'measure':45} {'generated':>10} {'target':>10}"]
    for name, generated, target in comparison(county):
        lines.append(f"{name:45} {generated:>10,.0f} {target:>10,.0f}")
    return "\n".join(lines)
