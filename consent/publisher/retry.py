"""What a receiver's answer means for a delivery, and when to try again (pure: no clock, no IO).

- 2xx: delivered. For a retraction (DELETE), 404 and 410 too: the receiver does not hold it, as wanted.
- No answer (connection refused, reset, timeout), 5xx, 408, 409, 425 and 429: try again later.
- Any other 4xx (and 1xx/3xx, which we do not follow): the request itself is wrong and sending it again
  will not change that, so it goes to the dead letters with the status and the start of the body.

Retries wait with exponential backoff and full jitter (a uniform draw between 0 and base * 2**attempt,
capped), so a receiver coming back up is not hit by every worker at once; a Retry-After the receiver sends
is honoured up to the cap. A change still undelivered `max_age` after it was queued goes to the dead letters.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

DELIVERED = "delivered"
RETRY = "retry"
DEAD = "dead"
RETRYABLE_4XX = frozenset({408, 409, 425, 429})
EXCERPT = 300


@dataclass(frozen=True)
class Outcome:
    verdict: str  # delivered | retry | dead
    status: int | None  # the HTTP status, None when there was no answer
    reason: str


def classify(action: str, status: int | None, body: str = "", error: str | None = None) -> Outcome:
    """The outcome of one attempt: `status` and `body` of the answer, or `error` when there was none."""
    if status is None:
        return Outcome(RETRY, None, f"no answer: {error or 'unknown error'}")
    excerpt = " ".join(body.split())[:EXCERPT]
    said = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
    if 200 <= status < 300 or (action == "delete" and status in (404, 410)):
        return Outcome(DELIVERED, status, f"HTTP {status}")
    if status >= 500 or status in RETRYABLE_4XX:
        return Outcome(RETRY, status, said)
    return Outcome(DEAD, status, said)


def backoff(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt `attempt + 1` (attempt counts from 1): full jitter over the
    exponential ceiling."""
    ceiling = min(cap, base * 2 ** max(0, attempt - 1))
    return (rng or random).uniform(0, ceiling)


def retry_after(value: str | None, now: datetime, cap: float) -> float | None:
    """A Retry-After header (seconds, or an HTTP date) as seconds from `now`, capped; None when absent or
    unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), cap)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, min((moment - now).total_seconds(), cap))
