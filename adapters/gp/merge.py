"""How a GP feed's view of a Patient (or a practice) is laid over the record other feeds already hold. Pure.

Several feeds write the same Patient (its id is the NHS number): HL7 ADT brings hospital numbers, phone
numbers, next-of-kin links and extensions the GP extract does not carry. A GP write must update what the
GP knows without losing the rest, and writing the same GP data twice must give the same record (so a
re-ingest makes no new version): every merge here is idempotent.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from adapters.merge import system_value, union
from adapters.rows import JSON

_NAME_USES_REPLACED = {None, "official", "usual"}  # other uses (maiden, nickname, old...) are not the GP's to change
_ADDRESS_USES_REPLACED = {None, "home"}


def overlay(current: JSON, incoming: JSON) -> JSON:
    """The incoming elements over the current ones; identifiers, telecoms and links are unioned (a sender
    that does not know a hospital number has not retracted it). The store's meta is left to the store."""
    merged = {key: item for key, item in current.items() if key != "meta"}
    merged.update(incoming)
    for key, identity in (("identifier", system_value), ("telecom", system_value), ("link", _link_target)):
        if key in current or key in incoming:
            merged[key] = union(current.get(key, []), incoming.get(key, []), identity)
    return merged


def merge_patient(current: JSON, incoming: JSON) -> JSON:
    """A GP feed's Patient over the stored one.

    The GP feed is the registration record, so its name, birth date, gender, postcode and practice win.
    A name or home address it replaces is kept with use `old` rather than dropped. The practitioners of a
    practice that is still the registered one are kept. A recorded death is never undone, and a death
    already recorded with a time on the same day is not coarsened to a date. Anything the GP feed does
    not carry (other identifiers, telecom, links, extensions of other URLs, contacts) is kept."""
    merged = overlay(current, incoming)
    if incoming.get("name"):
        merged["name"] = _replace(current.get("name", []), incoming["name"], _name_key, _NAME_USES_REPLACED)
    if incoming.get("address"):
        merged["address"] = _replace(current.get("address", []), incoming["address"], _postcode, _ADDRESS_USES_REPLACED)
    if incoming.get("generalPractitioner"):
        merged["generalPractitioner"] = _practice(
            current.get("generalPractitioner", []), incoming["generalPractitioner"]
        )
    if "extension" in current or "extension" in incoming:
        urls = {extension.get("url") for extension in incoming.get("extension", [])}
        extensions = [e for e in current.get("extension", []) if e.get("url") not in urls]
        merged["extension"] = extensions + incoming.get("extension", [])
    _merge_death(current, incoming, merged)
    return merged


def _replace(
    current: list[JSON], incoming: list[JSON], identity: Callable[[JSON], Hashable], replaced_uses: set[str | None]
) -> list[JSON]:
    """The incoming items first (each merged over a current item that matches it, keeping that item's
    extra parts such as address lines or a title); current items of the uses being replaced that match
    none become `old`; the rest stay as they are."""
    matches = {identity(item): item for item in current}
    merged = [{**matches[identity(item)], **item} if identity(item) in matches else item for item in incoming]
    wanted = {identity(item) for item in incoming}
    rest = []
    for item in current:
        if identity(item) in wanted:
            continue
        rest.append({**item, "use": "old"} if item.get("use") in replaced_uses else item)
    return merged + rest


def _practice(current: list[JSON], incoming: list[JSON]) -> list[JSON]:
    """The incoming registration; the current practitioners stay while the practice is unchanged."""
    incoming_refs = {item.get("reference") for item in incoming}
    same_practice = any(
        str(item.get("reference", "")).startswith("Organization/") and item.get("reference") in incoming_refs
        for item in current
    )
    matches = {item.get("reference"): item for item in current}
    merged = [{**matches.get(item.get("reference"), {}), **item} for item in incoming]
    if not same_practice:
        return merged
    kept = [
        item
        for item in current
        if item.get("reference") not in incoming_refs and not str(item.get("reference", "")).startswith("Organization/")
    ]
    return merged + kept


def _merge_death(current: JSON, incoming: JSON, merged: JSON) -> None:
    died = current.get("deceasedDateTime")
    if isinstance(died, str) and (
        "deceasedDateTime" not in incoming or died.startswith(str(incoming["deceasedDateTime"]))
    ):
        merged["deceasedDateTime"] = died
    elif current.get("deceasedBoolean") is True and "deceasedDateTime" not in incoming:
        merged["deceasedBoolean"] = True
    if "deceasedDateTime" in merged:
        merged.pop("deceasedBoolean", None)


def _link_target(item: JSON) -> Hashable:
    return str(item.get("other", {}).get("reference", ""))


def _name_key(name: JSON) -> Hashable:
    return (str(name.get("family", "")).casefold(), tuple(str(given).casefold() for given in name.get("given", [])))


def _postcode(address: JSON) -> Hashable:
    return str(address.get("postalCode", "")).replace(" ", "").upper() or id(address)
