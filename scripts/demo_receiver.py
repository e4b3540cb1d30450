"""The demo's stand-in for the ambulance service's EPR: a FHIR receiver for Closer's push publisher.

It accepts what the publisher sends (PUT [base]/[type]/[id], DELETE for a retraction), checks each
request's detached JWS (`X-Closer-Signature`) against Closer's published JWKS, keeps what it holds, and
shows it on a page that refreshes itself, so a newcomer can watch an alert arrive and be withdrawn.

Usage: python scripts/demo_receiver.py PORT CLOSER_BASE_URL STATE_FILE
       python scripts/demo_receiver.py --wait STATE_FILE     (until something has arrived, up to 2 minutes)

What it holds and its log are kept in STATE_FILE, so a second demo run shows what was delivered before
(the publisher sends each version once, and does not send it again to a receiver that restarted).
"""

from __future__ import annotations

import html
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests

from consent.publisher.signing import SIGNATURE_HEADER, verify

JWKS_PATH = "/.well-known/closer-publisher-jwks.json"


class Inbox:
    """What the receiver holds now, and the log of every request, newest first."""

    def __init__(self, closer_base: str, state: Path) -> None:
        self.closer_base = closer_base
        self.state = state
        saved = json.loads(state.read_text()) if state.exists() else {}
        self.held: dict[str, dict[str, Any]] = saved.get("held", {})
        self.log: list[tuple[str, str, str, str]] = [tuple(entry) for entry in saved.get("log", [])]  # type: ignore[misc]
        self.lock = threading.Lock()
        self._jwks: dict[str, Any] | None = None

    def jwks(self) -> dict[str, Any]:
        if self._jwks is None:
            self._jwks = requests.get(self.closer_base + JWKS_PATH, timeout=10).json()
        return self._jwks

    def check(self, signature: str | None, body: bytes) -> str:
        if not signature:
            return "UNSIGNED"
        try:
            verify(signature, body, self.jwks())
        except Exception as exc:  # a bad signature is shown, not hidden: this is a demo of checking it
            return f"BAD SIGNATURE ({type(exc).__name__})"
        return "signature verified"

    def receive(self, method: str, path: str, body: bytes, signature: str | None) -> None:
        checked = self.check(signature, body)
        key = "/".join(path.strip("/").split("/")[-2:])
        with self.lock:
            if method == "DELETE":
                self.held.pop(key, None)
            elif body:
                self.held[key] = json.loads(body)
            self.log.insert(0, (time.strftime("%H:%M:%S"), method, key, checked))
            del self.log[200:]
            self.state.write_text(json.dumps({"held": self.held, "log": self.log}))


def page(inbox: Inbox) -> bytes:
    with inbox.lock:
        held = sorted(inbox.held.items())
        log = list(inbox.log)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(_summary(r))}</td><td>{html.escape(_patient(r))}</td></tr>"
        for k, r in held
    )
    events = "".join(
        f"<tr><td>{t}</td><td>{m}</td><td>{html.escape(k)}</td><td>{html.escape(c)}</td></tr>" for t, m, k, c in log
    )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="3"><title>Ambulance service EPR (demo receiver)</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;color:#111}}table{{border-collapse:collapse;margin-bottom:2rem}}
td,th{{border:1px solid #999;padding:.3rem .6rem;text-align:left}}caption{{text-align:left;font-weight:bold}}</style>
</head><body><h1>Ambulance service EPR: what Closer has shared</h1>
<p>This page refreshes every 3 seconds. Each request from Closer is checked against its published key.</p>
<table><caption>Held now ({len(held)})</caption><tr><th scope="col">resource</th><th scope="col">what</th>
<th scope="col">patient</th></tr>{rows}</table>
<table><caption>Requests received, newest first</caption><tr><th scope="col">time</th><th scope="col">method</th>
<th scope="col">resource</th><th scope="col">check</th></tr>{events}</table></body></html>""".encode()


def _summary(resource: dict[str, Any]) -> str:
    code = resource.get("code") or {}
    category = (resource.get("category") or [{}])[0] if isinstance(resource.get("category"), list) else {}
    text = code.get("text") or resource.get("title") or resource.get("description") or category.get("text")
    codings = [*(code.get("coding") or []), *(category.get("coding") or [])]
    shown = text or ", ".join(str(c.get("display") or c.get("code")) for c in codings)
    return f"{resource.get('resourceType')} ({resource.get('status', '')}) {shown}".strip()


def _patient(resource: dict[str, Any]) -> str:
    ref = resource.get("subject") or resource.get("patient") or {}
    return str(ref.get("reference", ""))


def handler(inbox: Inbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _accept(self) -> None:
            inbox.receive(self.command, self.path, self._body(), self.headers.get(SIGNATURE_HEADER))
            self.send_response(200 if self.command != "DELETE" else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_PUT = do_POST = do_DELETE = _accept

        def do_GET(self) -> None:
            body = page(inbox)
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def wait_for_delivery(state: Path, seconds: int = 120) -> None:
    """Return once the receiver holds something; exit non-zero if nothing arrived in time."""
    for _ in range(seconds):
        held = json.loads(state.read_text()).get("held", {}) if state.exists() else {}
        if held:
            print(f"    the ambulance receiver holds {len(held)} shared resources: {', '.join(sorted(held))}")
            return
        time.sleep(1)
    raise SystemExit(f"nothing reached the ambulance receiver in {seconds} s: see closer-data/demo-publisher.log")


def main() -> None:
    if sys.argv[1] == "--wait":
        wait_for_delivery(Path(sys.argv[2]))
        return
    port, closer_base, state = int(sys.argv[1]), sys.argv[2].rstrip("/"), Path(sys.argv[3])
    server = ThreadingHTTPServer(("127.0.0.1", port), handler(Inbox(closer_base, state)))
    server.serve_forever()


if __name__ == "__main__":
    main()
