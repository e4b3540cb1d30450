"""One error hierarchy for the whole host.

Handlers raise these; a single error handler turns them into an OperationOutcome with the status
given here, so no code path invents its own error format.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue: what went wrong and, where known, which element (FHIRPath)."""

    code: str
    diagnostics: str
    severity: str = "error"
    expression: tuple[str, ...] = ()


@dataclass
class FhirError(Exception):
    """An error the client can act on; `status` is the HTTP status it maps to."""

    diagnostics: str
    status: int = 400
    code: str = "invalid"
    expression: tuple[str, ...] = ()
    issues: list[Issue] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.diagnostics)

    def all_issues(self) -> list[Issue]:
        """The issues to report: the explicit list, or one built from the main message."""
        if self.issues:
            return list(self.issues)
        return [Issue(self.code, self.diagnostics, "error", self.expression)]


def invalid(diagnostics: str, *expression: str, status: int = 400) -> FhirError:
    """A request whose content is wrong (bad JSON, bad value, wrong type)."""
    return FhirError(diagnostics, status, "invalid", tuple(expression))


def not_found(diagnostics: str) -> FhirError:
    return FhirError(diagnostics, 404, "not-found")


def gone(diagnostics: str) -> FhirError:
    return FhirError(diagnostics, 410, "deleted")


def conflict(diagnostics: str) -> FhirError:
    return FhirError(diagnostics, 409, "conflict")


def precondition_failed(diagnostics: str) -> FhirError:
    return FhirError(diagnostics, 412, "conflict")


def not_supported(diagnostics: str, status: int = 400) -> FhirError:
    return FhirError(diagnostics, status, "not-supported")


def processing(diagnostics: str, issues: list[Issue] | None = None, status: int = 422) -> FhirError:
    """Well-formed content that breaks a business or profile rule."""
    return FhirError(diagnostics, status, "processing", issues=list(issues or []))


def internal_error(correlation_id: str) -> Issue:
    """The issue for an unexpected failure: a correlation id to quote, never a stack trace."""
    return Issue("exception", f"Internal server error; quote correlation id {correlation_id} to the operator")
