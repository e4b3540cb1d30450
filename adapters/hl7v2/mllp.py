"""`closer mllp`: an MLLP listener built on hl7apy's MLLPServer (a threading TCP server).

hl7apy's own request handler answers one message and closes the connection; interface engines keep
connections open for thousands of messages, so this handler reads frames in a loop, answers each
with its ACK only after the message (and its FHIR resources) are committed, and keeps the
connection open whatever the message held. Bytes outside a frame are ignored, as MLLP says.
"""

from __future__ import annotations

import logging
from socketserver import StreamRequestHandler

from hl7apy.mllp import MLLPServer

from adapters.hl7v2.ack import build_ack
from adapters.hl7v2.errors import MessageRejected
from adapters.hl7v2.framing import END_BLOCK, START_BLOCK, decode, frame
from adapters.hl7v2.processor import Hl7Processor, Outcome

log = logging.getLogger("closer.mllp")

MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class MllpHandler(StreamRequestHandler):
    server: ClosingMllpServer

    def handle(self) -> None:
        buffer = b""
        self.request.settimeout(self.server.idle_timeout)
        while True:
            try:
                chunk = self.request.recv(65536)
            except (TimeoutError, OSError):
                return
            if not chunk:
                return
            buffer += chunk
            buffer = self._answer_complete_frames(buffer)

    def _answer_complete_frames(self, buffer: bytes) -> bytes:
        while True:
            start = buffer.find(START_BLOCK)
            if start == -1:
                return b""  # no frame begun: bytes outside frames are noise
            end = buffer.find(END_BLOCK, start)
            if end == -1:
                if len(buffer) - start > MAX_MESSAGE_BYTES:
                    self._send(self._too_large())
                    return b""
                return buffer[start:]
            payload, buffer = buffer[start + 1 : end], buffer[end + 1 :]
            self._send(self._ack_for(payload))

    def _ack_for(self, payload: bytes) -> str:
        outcome = self.server.processor.process(decode(payload))
        try:
            return outcome.ack()
        except Exception:
            log.exception("Could not build the ACK for message %s", outcome.control_id)
            return build_ack(outcome.code, None, outcome.text)

    def _too_large(self) -> str:
        error = MessageRejected(f"The message is larger than {MAX_MESSAGE_BYTES} bytes", code="100")
        return Outcome("AR", "rejected", error.message, error).ack()

    def _send(self, ack: str) -> None:
        self.request.sendall(frame(ack))


class ClosingMllpServer(MLLPServer):
    """hl7apy's server with our handler; worker threads die with the process."""

    daemon_threads = True

    def __init__(self, host: str, port: int, processor: Hl7Processor, idle_timeout: float = 300.0) -> None:
        self.processor = processor
        self.idle_timeout = idle_timeout
        super().__init__(host, port, handlers={}, timeout=idle_timeout, request_handler_class=MllpHandler)
