"""Mutual TLS per endpoint: a receiver that demands a client certificate signed by its CA gets the delivery
only when the registration carries one. The CA, server and client certificates are made here."""

from __future__ import annotations

import datetime as dt
import ssl
import time
from collections.abc import Iterator
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from publisher_data import Receiver, dnar_flag, settings, share_consent
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from closer.store.sql import SqlRepository
from consent.publisher.settings import Tls
from consent.publisher.tables import PENDING, publish_deliveries
from consent.publisher.worker import Worker


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    usage: ExtendedKeyUsageOID | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = issuer or (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if usage == ExtendedKeyUsageOID.SERVER_AUTH:
        names = [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[str, str]:
    cert_path, key_path = path.with_suffix(".pem"), path.with_suffix(".key")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, str]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _issue("Test CA", ca_key, None, ca=True)
    ca_path, _ = _write(tmp_path / "ca", ca, ca_key)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    server = _issue("localhost", server_key, (ca.subject, ca_key), usage=ExtendedKeyUsageOID.SERVER_AUTH)
    client = _issue("closer-publisher", client_key, (ca.subject, ca_key), usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    server_cert, server_key_path = _write(tmp_path / "server", server, server_key)
    client_cert, client_key_path = _write(tmp_path / "client", client, client_key)
    return {
        "ca": ca_path,
        "server_cert": server_cert,
        "server_key": server_key_path,
        "client_cert": client_cert,
        "client_key": client_key_path,
    }


@pytest.fixture
def mtls_server(pki: dict[str, str]) -> Iterator[HTTPServer]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED  # no client certificate, no handshake
    server = HTTPServer(host="localhost", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def test_an_mtls_endpoint_gets_deliveries_only_with_the_client_certificate(
    store: SqlRepository, mtls_server: HTTPServer, pki: dict[str, str], tmp_path: Path
) -> None:
    receiver = Receiver(mtls_server)
    assert receiver.url.startswith("https://")
    store.update(share_consent("p1"))
    store.update(dnar_flag("p1"))
    publish = settings(receiver.url, tmp_path)
    (registration,) = publish.registrations
    no_client_cert = replace(registration, tls=Tls(ca_bundle=pki["ca"]))
    worker = Worker(store, replace(publish, registrations=(no_client_cert,)), "w1")
    worker.step()
    worker.sender.close()
    assert receiver.receipts == []
    with store.engine.connect() as conn:
        (row,) = conn.execute(select(publish_deliveries)).all()
    assert row.status == PENDING and row.last_status is None and "SSL" in row.last_error  # retried later

    mutual = replace(registration, tls=Tls(pki["client_cert"], pki["client_key"], pki["ca"]))
    worker = Worker(store, replace(publish, registrations=(mutual,), backoff_cap=0.001), "w1")
    deadline = time.monotonic() + 60  # a hang guard: the retry is due within backoff_cap
    while not receiver.receipts and time.monotonic() < deadline:
        worker.step()
        time.sleep(0.002)
    worker.sender.close()
    assert [(r.method, r.path) for r in receiver.receipts] == [("PUT", "/fhir/Flag/dnar-p1")]
