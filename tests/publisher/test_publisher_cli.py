"""`closer publish endpoints|status|retry` and the JWKS document receivers verify with."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from publisher_data import dnar_flag, settings_toml, share_consent

from closer.cli import main
from closer.store.sql import SqlRepository
from consent.publisher.signing import load_signer, verify
from consent.publisher.web import JWKS_PATH, publisher_keys


@pytest.fixture
def env(store: SqlRepository, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config = tmp_path / "publish.toml"
    config.write_text(settings_toml("http://127.0.0.1:9/fhir", tmp_path / "key.pem"), encoding="utf-8")
    monkeypatch.setenv("CLOSER_DATABASE_URL", database_url)
    monkeypatch.setenv("CLOSER_PUBLISH_ENDPOINTS", str(config))
    return config


def test_endpoints_lists_the_registrations(env: Path) -> None:
    result = CliRunner().invoke(main, ["publish", "endpoints"])
    assert result.exit_code == 0, result.output
    assert "ambulance  http://127.0.0.1:9/fhir  ODS RYA  ETREAT  put  CarePlan+Flag+AllergyIntolerance" in result.output


def test_status_shows_the_queue_and_retry_needs_ids_or_all(store: SqlRepository, env: Path) -> None:
    store.update(share_consent("p1"))
    store.update(dnar_flag("p1"))
    runner = CliRunner()
    assert runner.invoke(main, ["publish", "status"]).output.startswith("outbox planned up to seq 0")
    # port 9 (discard) refuses the connection: the delivery stays pending for a retry
    ran = runner.invoke(main, ["publish", "run", "--once", "--worker", "cli"])
    assert ran.exit_code == 0, ran.output
    assert "queued 1, delivered 0, retried " in ran.output
    status = runner.invoke(main, ["publish", "status"]).output
    assert "ambulance: pending 1; oldest undelivered queued" in status
    assert runner.invoke(main, ["publish", "retry"]).exit_code == 2
    missing = runner.invoke(main, ["publish", "retry", "99"])
    assert missing.exit_code == 1 and "not dead letters: 99" in missing.output


def test_the_jwks_document_verifies_the_signatures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "keys" / "publisher-key.pem"
    config = tmp_path / "publish.toml"
    config.write_text(f'[publisher]\nsigning_key = "{key}"\n', encoding="utf-8")
    monkeypatch.setenv("CLOSER_PUBLISH_ENDPOINTS", str(config))
    signature = load_signer(key).sign(b"{}", method="PUT", url="https://x/Flag/1", idempotency_key="k")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    app = Flask("test")
    app.register_blueprint(publisher_keys)
    from consent.publisher import web

    web._signer.cache_clear()
    response = app.test_client().get(JWKS_PATH)
    assert response.status_code == 200 and response.content_type == "application/jwk-set+json"
    (jwk,) = response.json["keys"]  # type: ignore[index]
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-384" and "d" not in jwk
    assert verify(signature, b"{}", response.json)["htu"] == "https://x/Flag/1"  # type: ignore[arg-type]


def test_the_jwks_document_needs_only_the_key_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoint whose client certificate is only on the workers' host does not take the public key down."""
    key = tmp_path / "publisher-key.pem"
    config = tmp_path / "publish.toml"
    config.write_text(
        f'[publisher]\nsigning_key = "{key}"\n\n[[endpoint]]\nname = "amb"\nurl = "https://amb.example/fhir"\n'
        'ods = "RYA"\n\n[tls.amb]\nclient_cert = "/nowhere/cert.pem"\nclient_key = "/nowhere/key.pem"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("CLOSER_PUBLISH_ENDPOINTS", str(config))
    jwks = load_signer(key).jwks()
    app = Flask("test")
    app.register_blueprint(publisher_keys)
    from consent.publisher import web

    web._signer.cache_clear()
    response = app.test_client().get(JWKS_PATH)
    assert response.status_code == 200 and response.json == jwks
