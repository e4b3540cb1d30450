"""Small formatting filters the templates share (pure)."""

from __future__ import annotations

from pages.blueprint import blueprint


@blueprint.app_template_filter("nhs")
def nhs(value: str | None) -> str:
    """An NHS number as people write it, 3 3 4 digits ('not known' when missing)."""
    digits = (value or "").replace(" ", "")
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}" if len(digits) == 10 else digits or "not known"


@blueprint.app_template_filter("tier_label")
def tier_label(value: str | None) -> str:
    return (value or "not scored").replace("-", " ").capitalize()


@blueprint.app_template_filter("percent")
def percent(value: float | None, places: int = 0) -> str:
    return "\u2013" if value is None else f"{value * 100:.{places}f}%"


@blueprint.app_template_filter("count")
def count(value: int | None) -> str:
    """A whole number with thousands separators, as the programme report writes them."""
    return "\u2013" if value is None else f"{value:,}"
