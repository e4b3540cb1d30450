"""The pages' routes, one module per page. Each route checks scope through pages.routes.common, gathers
data through pages.reads and the workflow through pages.workflow, and hands a pure view model to its
template."""

from __future__ import annotations

from pages.routes import caseloads, common, patients, programme, triage

__all__ = ["caseloads", "common", "patients", "programme", "triage"]
