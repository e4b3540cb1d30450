"""The ingest report every feed command prints: what was accepted and exactly what was not, and where.

A row or message that fails is never silently dropped; it becomes an issue here naming its location
(file, line or message number, identifier) so someone can fix the source and send it again.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

# Long loads show progress through this: given a label and a length, a context that yields a function
# to call with how many more records are done (a click progress bar on a terminal, nothing elsewhere).
Progress = Callable[[str, int], AbstractContextManager[Callable[[int], None]]]


@dataclass(frozen=True)
class IngestIssue:
    location: str  # e.g. "apc.csv line 14" or "batch.hl7 message 3 (MSH-10 ABC123)"
    message: str
    severity: str = "error"  # error: the record was not stored; warning: stored, with this caveat

    def as_dict(self) -> dict[str, str]:
        return {"location": self.location, "severity": self.severity, "message": self.message}


@dataclass
class IngestReport:
    source: str
    accepted: int = 0
    duplicates: int = 0
    failed: int = 0
    issues: list[IngestIssue] = field(default_factory=list)

    def fail(self, location: str, message: str) -> None:
        self.failed += 1
        self.issues.append(IngestIssue(location, message))

    def warn(self, location: str, message: str) -> None:
        self.issues.append(IngestIssue(location, message, "warning"))

    def merge(self, other: IngestReport) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.failed += other.failed
        self.issues.extend(other.issues)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "issues": [issue.as_dict() for issue in self.issues],
        }

    def summary(self, max_issues: int = 50) -> str:
        lines = [
            f"{self.source}: {self.accepted} accepted, {self.duplicates} duplicates, {self.failed} failed",
        ]
        for issue in self.issues[:max_issues]:
            lines.append(f"  {issue.severity.upper():7} {issue.location}: {issue.message}")
        if len(self.issues) > max_issues:
            lines.append(f"  ... and {len(self.issues) - max_issues} more (use --report FILE for all)")
        return "\n".join(lines)
