"""What one endpoint should be sent about one resource (pure: the caller fetches, decides consent, stores).

The rule, for a registration, a resource's state and what the endpoint holds (or will hold once its queue
is delivered):

- it is something the endpoint receives (its type, a shared CarePlan category, a DNAR Flag) and the
  Consent permits it: send this version, unless the endpoint already has it or a newer one;
- otherwise (deleted at source, no longer of a kind the endpoint receives, or no longer permitted): when
  the endpoint holds it, retract it (DELETE); else nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from consent.alertcodes import SNOMED, codings, is_dnar_flag
from consent.engine import Verdict
from consent.model import Consent, ParsedConsent
from consent.publisher.settings import Registration

PUT = "put"
DELETE = "delete"


@dataclass(frozen=True)
class Change:
    """A delivery to queue: a PUT of one version, or a DELETE, with the decision behind it."""

    endpoint: str
    patient: str
    res_type: str
    res_id: str
    version: int
    action: str  # put | delete
    body: str | None
    decision: str
    consent: str | None = None


def wanted(registration: Registration, resource: Mapping[str, Any]) -> bool:
    """Whether the endpoint receives this kind of resource: its type is registered, a Flag is a DNAR alert,
    a CarePlan is in one of the registered categories."""
    kind = resource.get("resourceType")
    if kind not in registration.resources:
        return False
    if kind == "Flag":
        return is_dnar_flag(resource)
    if kind == "CarePlan":
        found = {code for system, code in codings(resource, "category") if system == SNOMED}
        return bool(found & registration.careplan_categories)
    return True


def decide(
    registration: Registration,
    patient: str,
    key: tuple[str, str],
    version: int,
    resource: Mapping[str, Any] | None,
    verdict: Verdict | None,
    held: int | None,
) -> Change | None:
    """The change to queue for one resource at one endpoint. `resource` is None when it was deleted;
    `verdict` is the consent decision for a wanted resource (None when not wanted); `held` the version
    the endpoint holds, None when it holds nothing. A PUT's `body` is left None: the caller serialises
    the version only when it is sent."""
    res_type, res_id = key
    if resource is not None and verdict is not None and verdict.permitted:
        if held is not None and held >= version:
            return None
        return Change(
            registration.name, patient, res_type, res_id, version, PUT, None, _words(verdict), verdict.consent
        )
    if held is None:
        return None
    if resource is None:
        why = "deleted at source"
    elif verdict is None:
        why = f"no longer a {res_type} this endpoint receives"
    else:
        why = f"no longer permitted: {_words(verdict)}"
    consent = verdict.consent if verdict is not None else None
    return Change(registration.name, patient, res_type, res_id, held, DELETE, None, f"retract: {why}", consent)


def _words(verdict: Verdict) -> str:
    where = f" ({verdict.consent} {verdict.provision})" if verdict.consent and verdict.provision else ""
    return f"{verdict.decision.value}{where}: {verdict.reason}"


def boundary_crossed(consents: Iterable[ParsedConsent], since: datetime, now: datetime) -> bool:
    """Whether a period of an active Consent (of any provision) started or ended in (since, now]: what the
    patient's Consents permit may have changed with no Consent written."""
    for consent in consents:
        if not isinstance(consent, Consent) or consent.status != "active" or consent.root is None:
            continue
        for provision in consent.root.walk():
            period = provision.period
            edges = (period.start, period.end) if period is not None else ()
            if any(edge is not None and since < edge <= now for edge in edges):
                return True
    return False
