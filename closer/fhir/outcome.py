"""OperationOutcome resources, built from our Issue values."""

from __future__ import annotations

from typing import Any

from closer.errors import Issue


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue_json(i) for i in issues]}


def issue_json(issue: Issue) -> dict[str, Any]:
    out: dict[str, Any] = {"severity": issue.severity, "code": issue.code, "diagnostics": issue.diagnostics}
    if issue.expression:
        out["expression"] = list(issue.expression)
    return out


def information(message: str) -> dict[str, Any]:
    return operation_outcome([Issue("informational", message, "information")])
