"""`--strict`: check a message against its version's HL7 definition with hl7apy before mapping it.

The fast parser accepts whatever it can map, as interface engines expect; strict mode is for
on-boarding a new feed, when a sender wants to know every place its messages break the standard.
"""

from __future__ import annotations

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

from adapters.hl7v2.errors import MessageInvalid


def check_strictly(text: str) -> None:
    """Raise MessageInvalid naming hl7apy's objection when the message breaks its version's rules."""
    try:
        message = parse_message(text.replace("\n", "\r"), validation_level=VALIDATION_LEVEL.STRICT)
        message.validate()
    except Exception as exc:  # hl7apy raises many types; any of them means "not valid"
        raise MessageInvalid(f"Strict validation (hl7apy) failed: {exc}", code="102") from None
