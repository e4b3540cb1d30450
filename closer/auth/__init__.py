"""Who is asking: SMART Backend Services clients, their tokens and scopes.

- `scopes`, `assertion`, `keys`: pure parts (scope matching, assertion checks, key material).
- `clients`, `tokens`, `tables`: the registry, the token logic and their tables (SQLite or PostgreSQL).
- `web`: the token endpoint, `/.well-known/smart-configuration`, `authenticate`, `enforcer`.
- `cli`: `closer clients add|list|revoke` and `closer token`.
"""

from __future__ import annotations

from closer.auth.errors import AuthFailure, OAuthError
from closer.auth.principal import Principal, require_scope
from closer.auth.web import auth, auth_failure_response, authenticate, current_principal, enforcer

__all__ = [
    "AuthFailure",
    "OAuthError",
    "Principal",
    "auth",
    "auth_failure_response",
    "authenticate",
    "current_principal",
    "enforcer",
    "require_scope",
]
