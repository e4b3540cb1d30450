"""The web pages (server-rendered HTML under /app): sign-in, triage worklists, patients, caseloads and
the programme, for GPs, case managers and MDT administrators. Registered with the host through the
`closer.blueprints` entry point (see closer.app.load_blueprints).

- blueprint: the Blueprint and its setup (session cookies, CSRF, settings, tables)
- auth: sign-in, sign-out and the hook that keeps every other page behind a session
- users: the users table and passwords; cli: `closer users ...`
- scope: which practices and teams a user may see (pure)
- worklist, patient, caseload, programme: view models (pure); reads: the patient page's store reads
- formatting: the templates' filters
- workflow: the calls into stratification and case management
- routes: the pages' routes, one module per page
"""

from __future__ import annotations

from pages import auth, formatting, routes  # noqa: F401  (their routes and filters register on the blueprint)
from pages.blueprint import blueprint

__all__ = ["blueprint"]
