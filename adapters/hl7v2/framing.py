"""Finding the messages in a file or a byte stream: MLLP frames, FHS/BHS batches, and files of
messages one after another with \\r, \\n or \\r\\n between segments. Pure."""

from __future__ import annotations

import re

START_BLOCK = b"\x0b"
END_BLOCK = b"\x1c"
_FRAME = re.compile(r"\x0b(.*?)\x1c\r?", re.S)
_LINES = re.compile(r"\r\n|\r|\n")
_BATCH_SEGMENTS = ("FHS", "BHS", "BTS", "FTS")


def decode(data: bytes) -> str:
    """Messages are UTF-8 (MSH-18 UNICODE UTF-8) or, from older systems, ISO 8859-1; any byte
    sequence decodes one way or the other, so no message is refused for its encoding alone."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def split_messages(text: str) -> list[str]:
    """The messages in `text`, each with \\r between segments. Batch header and trailer segments are
    dropped; anything before the first MSH is returned as a message of its own, so it is reported
    (and rejected) rather than silently skipped."""
    chunks = _FRAME.findall(text) if "\x0b" in text else [text]
    if "\x0b" in text:
        rest = _FRAME.sub("", text).strip("\r\n\x1c ")
        if rest:
            chunks.append(rest)
    messages: list[list[str]] = []
    for chunk in chunks:
        current: list[str] = []
        for line in _LINES.split(chunk):
            if not line.strip():
                continue
            if line.startswith(_BATCH_SEGMENTS):
                continue
            if line.startswith("MSH") and current:
                messages.append(current)
                current = []
            current.append(line)
        if current:
            messages.append(current)
    return ["\r".join(lines) for lines in messages]


def frame(message: str) -> bytes:
    return START_BLOCK + message.encode("utf-8") + END_BLOCK + b"\r"
