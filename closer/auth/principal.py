"""Who is asking: the client behind a valid access token, and the scope check every FHIR handler makes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from closer.auth.errors import insufficient_scope
from closer.auth.scopes import READ, WRITE, Scope, permits


@dataclass(frozen=True)
class Principal:
    client_id: str
    name: str
    kind: str  # "system" (consumer) or "internal" (writer)
    organization: str  # ODS code of the client's organization: the consent actor
    scopes: tuple[Scope, ...]  # granted to this token (a subset of the client's allowed scopes)
    expires: datetime
    purpose: str = "TREAT"  # v3-ActReason purpose of use the client was registered with (the consent purpose)

    def permits(self, resource_type: str, mode: str) -> bool:
        return permits(self.scopes, resource_type, mode)


def require_scope(principal: Principal, resource_type: str, mode: str) -> None:
    """Raise a 403 AuthFailure unless the token grants `mode` ("read" or "write") on `resource_type`."""
    if mode not in (READ, WRITE):
        raise ValueError(f"mode must be 'read' or 'write', not {mode!r}")
    if not principal.permits(resource_type, mode):
        raise insufficient_scope(str(Scope(resource_type, mode)), resource_type, mode)
