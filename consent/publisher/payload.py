"""The HTTP request that carries one delivery, in the endpoint's mode (pure: the signer is passed in).

- `put`: `PUT [url]/[type]/[id]` with the resource; a retraction is `DELETE [url]/[type]/[id]`.
- `transaction`: `POST [url]` a transaction Bundle of one entry (PUT with the resource, or DELETE).
- `rest-hook`: `POST [url]` an R4 Subscriptions Backport notification: a `history` Bundle whose first entry
  is the SubscriptionStatus (as Parameters), then the change (the resource with request PUT, or a DELETE).

Every request carries `Idempotency-Key` (the same on every resend of this delivery, new for the next
change), `X-Closer-Delivery` (its id), `X-Closer-Version` and, for a PUT, `ETag: W/"<version>"` (the version
is also meta.versionId in the body), and the detached JWS over the body in `X-Closer-Signature`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from consent.publisher.settings import Registration
from consent.publisher.signing import SIGNATURE_HEADER
from fhir_profiles.canonical import CANONICAL_BASE

FHIR_JSON = "application/fhir+json"
TOPIC = f"{CANONICAL_BASE}/SubscriptionTopic/shared-care-record"
BACKPORT_STATUS_PROFILE = (
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4"
)
BACKPORT_NOTIFICATION_PROFILE = (
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4"
)


@dataclass(frozen=True)
class Delivery:
    """A claimed row of the delivery queue."""

    id: int
    endpoint: str
    patient: str
    res_type: str
    res_id: str
    version: int
    action: str  # put | delete
    body: str | None
    idempotency_key: str
    decision: str
    attempts: int
    queued: int  # microseconds since the epoch
    committed: int

    @property
    def reference(self) -> str:
        return f"{self.res_type}/{self.res_id}"

    @property
    def versioned(self) -> str:
        return f"{self.res_type}/{self.res_id}/_history/{self.version}"


@dataclass(frozen=True)
class Outgoing:
    method: str
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class Signs(Protocol):
    def sign(self, body: bytes, *, method: str, url: str, idempotency_key: str) -> str: ...


def outgoing(registration: Registration, delivery: Delivery, signer: Signs, now: str) -> Outgoing:
    """The signed request for `delivery` at `registration`; `now` (a FHIR instant) stamps a notification."""
    if registration.mode == "put":
        method = "PUT" if delivery.action == "put" else "DELETE"
        url = f"{registration.url}/{delivery.reference}"
        body = delivery.body.encode("utf-8") if delivery.action == "put" and delivery.body else b""
    else:
        method, url = "POST", registration.url
        bundle = (
            transaction(delivery) if registration.mode == "transaction" else notification(registration, delivery, now)
        )
        body = orjson.dumps(bundle)
    headers = {
        "Accept": FHIR_JSON,
        "Idempotency-Key": delivery.idempotency_key,
        "X-Closer-Delivery": str(delivery.id),
        "X-Closer-Version": str(delivery.version),
    }
    if body:
        headers["Content-Type"] = FHIR_JSON
    if method == "PUT":
        headers["ETag"] = f'W/"{delivery.version}"'
    headers[SIGNATURE_HEADER] = signer.sign(body, method=method, url=url, idempotency_key=delivery.idempotency_key)
    return Outgoing(method, url, body, headers)


def _entry(delivery: Delivery) -> dict[str, Any]:
    if delivery.action == "put" and delivery.body:
        return {
            "fullUrl": delivery.reference,
            "resource": orjson.loads(delivery.body),
            "request": {"method": "PUT", "url": delivery.reference},
        }
    return {"request": {"method": "DELETE", "url": delivery.reference}}


def _history_entry(delivery: Delivery) -> dict[str, Any]:
    """A history Bundle's entries carry the request and its response (R4 bdl-3, bdl-4)."""
    return {**_entry(delivery), "response": {"status": "200" if delivery.action == "put" else "204"}}


def transaction(delivery: Delivery) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "transaction", "entry": [_entry(delivery)]}


def notification(registration: Registration, delivery: Delivery, now: str) -> dict[str, Any]:
    """An R4 backport event-notification; the delivery id is the event number (increasing, with gaps where
    other endpoints' deliveries fall)."""
    subscription = _subscription_id(registration)
    status = {
        "resourceType": "Parameters",
        "meta": {"profile": [BACKPORT_STATUS_PROFILE]},
        "parameter": [
            {"name": "subscription", "valueReference": {"reference": f"Subscription/{subscription}"}},
            {"name": "topic", "valueCanonical": TOPIC},
            {"name": "status", "valueCode": "active"},
            {"name": "type", "valueCode": "event-notification"},
            {"name": "events-since-subscription-start", "valueString": str(delivery.id)},
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(delivery.id)},
                    {"name": "timestamp", "valueInstant": now},
                    {"name": "focus", "valueReference": {"reference": delivery.versioned}},
                ],
            },
        ],
    }
    return {
        "resourceType": "Bundle",
        "meta": {"profile": [BACKPORT_NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": now,
        "entry": [
            {
                "fullUrl": f"urn:uuid:{delivery.idempotency_key}",
                "resource": status,
                "request": {"method": "GET", "url": f"Subscription/{subscription}/$status"},
                "response": {"status": "200"},
            },
            _history_entry(delivery),
        ],
    }


def _subscription_id(registration: Registration) -> str:
    """A FHIR id made from the registration name (Endpoint/x -> Endpoint-x)."""
    return "".join(c if c.isalnum() or c in "-." else "-" for c in registration.name)[:64]
