"""The audit log of disclosures: every consumer read, `$alerts` call and push, as a FHIR R4 AuditEvent.

- `event`: the Disclosure and the pure function that builds its AuditEvent.
- `chain`: the hash chain and the pure walk that checks it.
- `log`: the tables, `record` (append), `verify` and `events_for` (SQLite or PostgreSQL).
- `cli`: `closer audit verify` and `closer audit list`.
"""

from __future__ import annotations

from closer.audit.chain import VerifyResult
from closer.audit.event import Disclosure
from closer.audit.log import events_for, record, verify

__all__ = ["Disclosure", "VerifyResult", "events_for", "record", "verify"]
