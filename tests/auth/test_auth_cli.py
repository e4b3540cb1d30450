"""`closer clients add|list|revoke` and `closer token`, through the real `closer` command group."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from authutil import jwks_of, key, pem_of
from click.testing import CliRunner, Result
from flask import Flask, request
from werkzeug.serving import make_server

from closer.auth import AuthFailure, Principal, authenticate
from closer.cli import main

Run = Callable[..., Result]


@pytest.fixture
def run(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Run]:
    """Run `closer ...` against the test store, in a scratch directory (where closer-data/ goes)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CLOSER_BASE_URL", raising=False)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        command, *rest = args
        extra = ["--database-url", database_url]
        if command == "clients":
            return runner.invoke(main, ["clients", rest[0], *extra, *rest[1:]])
        return runner.invoke(main, [command, *extra, *rest])

    yield invoke


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def failed(result: Result) -> str:
    assert result.exit_code != 0, result.output
    return result.output


def principal_of(app: Flask, token: str) -> Principal:
    with app.test_request_context("/Flag", headers={"Authorization": f"Bearer {token}"}):
        return authenticate(request)


@pytest.mark.parametrize("alg", ["ES384", "RS384"])
def test_internal_round_trip(run: Run, app: Flask, tmp_path: Path, alg: str) -> None:
    out = ok(
        run(
            "clients",
            "add",
            "stratify",
            "--ods",
            "rxw",
            "--scope",
            "system/*.write",
            "--scope",
            "system/*.read",
            "--internal",
            "--alg",
            alg,
        )
    )
    path = tmp_path / "closer-data" / "clients" / "stratify.json"
    assert str(Path("closer-data") / "clients" / "stratify.json") in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())
    assert saved["name"] == "stratify" and saved["alg"] == alg and saved["organization"] == "RXW"
    assert saved["token_url"] == "http://127.0.0.1:8080/auth/token"
    assert saved["private_key"].startswith("-----BEGIN PRIVATE KEY-----")

    listing = ok(run("clients", "list"))
    assert "stratify" in listing and "internal" in listing and "active" in listing and saved["client_id"] in listing

    token = ok(run("token", "--client", "stratify")).strip()
    principal = principal_of(app, token)
    assert principal.name == "stratify" and principal.kind == "internal"
    assert principal.permits("Patient", "write")

    narrow = json.loads(ok(run("token", "--client", "stratify", "--scope", "system/Flag.read", "--json")))
    assert narrow["scope"] == "system/Flag.read" and narrow["expires_in"] == 300
    assert not principal_of(app, narrow["access_token"]).permits("Flag", "write")

    assert "invalid_scope" in failed(run("token", "--client", "stratify", "--scope", "system/*.*"))

    out = ok(run("clients", "revoke", "stratify"))
    assert "Revoked client stratify" in out
    assert "revoked" in ok(run("clients", "list"))
    assert "invalid_client" in failed(run("token", "--client", "stratify"))
    with pytest.raises(AuthFailure):
        principal_of(app, token)


def test_list_as_json_and_empty(run: Run) -> None:
    assert "No clients" in ok(run("clients", "list"))
    ok(run("clients", "add", "amb", "--ods", "RX6", "--scope", "system/Flag.read", "--internal"))
    listed = json.loads(ok(run("clients", "list", "--json")))
    assert [(c["name"], c["kind"], c["organization"], c["scopes"], c["revoked_at"]) for c in listed] == [
        ("amb", "internal", "RX6", ["system/Flag.read"], None)
    ]


def test_system_client_with_jwks_or_pem(run: Run, tmp_path: Path) -> None:
    jwks = tmp_path / "ambulance.jwks.json"
    jwks.write_text(jwks_of(key("ec"), key("rsa")))
    ok(run("clients", "add", "ambulance", "--ods", "RX6", "--scope", "system/Flag.read", "--jwks", str(jwks)))
    pem = tmp_path / "ae.pem"
    pem.write_text(pem_of(key("rsa")))
    ok(run("clients", "add", "ae", "--ods", "RXW", "--scope", "system/CarePlan.read", "--public-key", str(pem)))
    ok(
        run(
            "clients",
            "add",
            "ae2",
            "--ods",
            "RXW",
            "--scope",
            "system/CarePlan.read",
            "--public-key",
            pem_of(key("ec")),
        )
    )
    listed = {c["name"]: c for c in json.loads(ok(run("clients", "list", "--json")))}
    assert listed["ambulance"]["kind"] == "system" and listed["ambulance"]["key"] == "jwks"
    assert len(listed["ambulance"]["kids"]) == 2
    assert listed["ae"]["key"] == "pem"
    assert not (tmp_path / "closer-data" / "clients").exists()  # no key file for a system client


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "system/Flag.read"], "exactly one of"),
        (["--scope", "system/Flag.read", "--internal", "--public-key", "x.pem"], "exactly one of"),
        (["--scope", "patient/Flag.read", "--internal"], "not a SMART system scope"),
        (["--scope", "system/Widget.read", "--internal"], "Widget"),
        (["--scope", "system/Flag.read", "--public-key", "no-such-file.pem"], "cannot read the key"),
        (["--scope", "system/Flag.read", "--public-key", pem_of(key("p256"))], "P-384"),
        (["--scope", "system/Flag.read", "--key-file", "k.json", "--public-key", pem_of(key("ec"))], "--key-file"),
    ],
)
def test_add_refuses(run: Run, args: list[str], message: str) -> None:
    assert message in failed(run("clients", "add", "amb", "--ods", "RX6", *args))


def test_add_refuses_a_bad_ods_code(run: Run) -> None:
    assert "not an ODS code" in failed(
        run("clients", "add", "amb", "--ods", "R!", "--scope", "system/Flag.read", "--internal")
    )


def test_duplicate_name_leaves_the_first_key_file_alone(run: Run, tmp_path: Path) -> None:
    ok(run("clients", "add", "amb", "--ods", "RX6", "--scope", "system/Flag.read", "--internal"))
    path = tmp_path / "closer-data" / "clients" / "amb.json"
    before = path.read_text()
    assert "exists already" in failed(
        run("clients", "add", "amb", "--ods", "RX6", "--scope", "system/Flag.read", "--internal")
    )
    other = tmp_path / "other.json"
    out = failed(
        run(
            "clients",
            "add",
            "amb",
            "--ods",
            "RX6",
            "--scope",
            "system/Flag.read",
            "--internal",
            "--key-file",
            str(other),
        )
    )
    assert "registered already" in out
    assert not other.exists()
    assert path.read_text() == before


def test_token_refuses_a_key_file_others_can_read(run: Run, tmp_path: Path) -> None:
    ok(run("clients", "add", "amb", "--ods", "RX6", "--scope", "system/Flag.read", "--internal"))
    path = tmp_path / "closer-data" / "clients" / "amb.json"
    path.chmod(0o644)
    assert "chmod 600" in failed(run("token", "--client", "amb"))
    assert "no key file" in failed(run("token", "--client", "nobody"))


def test_revoke_unknown(run: Run) -> None:
    assert "no client is named" in failed(run("clients", "revoke", "nobody"))


@pytest.fixture
def live(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


def test_token_over_http(run: Run, app: Flask, live: str) -> None:
    ok(run("clients", "add", "amb", "--ods", "RX6", "--scope", "system/Flag.read", "--internal", "--base-url", live))
    token = ok(run("token", "--client", "amb", "--url", live)).strip()
    assert principal_of(app, token).name == "amb"
    assert "invalid_scope" in failed(run("token", "--client", "amb", "--url", live, "--scope", "system/Flag.write"))
    assert "cannot reach" in failed(run("token", "--client", "amb", "--url", "http://127.0.0.1:9"))
