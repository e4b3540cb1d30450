"""`closer clients add|list|revoke` and `closer token`: manage the systems that may call the FHIR API, and
get a bearer token for an internal client (in-process, or from a running server with --url)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from closer.auth import keyfile
from closer.auth.assertion import ASSERTION_TYPE, make_assertion
from closer.auth.clients import (
    INTERNAL,
    PURPOSES,
    SYSTEM,
    TREAT,
    ClientError,
    add_client,
    check_registration,
    list_clients,
    revoke_client,
)
from closer.auth.errors import OAuthError
from closer.auth.keys import ES384, RS384, KeyMaterialError, generate_key_pair, load_private_key
from closer.auth.scopes import ScopeError
from closer.auth.tokens import GRANT_TYPE, TokenService
from closer.auth.web import token_endpoint
from closer.settings import Settings
from closer.store.engine import make_engine
from closer.store.searchparams import SEARCH_PARAMS

DEFAULT_BASE_URL = "http://127.0.0.1:8080"  # where `closer serve` listens by default

database_option = click.option(
    "--database-url", default=None, help="The server's store; overrides CLOSER_DATABASE_URL."
)


@contextmanager
def opened_store(database_url: str | None) -> Iterator[tuple[Engine, Settings]]:
    """The store's engine and the settings, for a command; a store that cannot be opened is a clean error."""
    settings = Settings.from_env(database_url=database_url)
    try:
        engine = make_engine(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    except (SQLAlchemyError, ValueError, OSError) as exc:
        safe = make_url(settings.database_url).render_as_string(hide_password=True)
        raise click.ClickException(f"cannot open the store at {safe}: {exc}") from None
    try:
        yield engine, settings
    finally:
        engine.dispose()


@click.group("clients")
def clients() -> None:
    """Register, list and revoke the systems that may get access tokens (SMART Backend Services)."""


@clients.command("add")
@click.argument("name")
@click.option("--ods", required=True, help="ODS code of the client's organization, e.g. RX6 (an ambulance trust).")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="A SMART scope the client may request, e.g. system/Flag.read or system/*.write; repeat for more.",
)
@click.option(
    "--purpose",
    type=click.Choice(PURPOSES),
    default=TREAT,
    show_default=True,
    help="The purpose of use (v3-ActReason) its requests carry, checked against consents (ETREAT: ambulance).",
)
@click.option("--jwks", "jwks_path", type=click.Path(dir_okay=False, path_type=Path), help="The client's JWKS (JSON).")
@click.option("--public-key", "public_key", help="The client's PEM public key: a file, or the PEM text itself.")
@click.option("--internal", is_flag=True, help="An internal writer: generate its key pair and save a key file.")
@click.option(
    "--alg",
    type=click.Choice([ES384, RS384]),
    default=ES384,
    show_default=True,
    help="With --internal: ES384 (EC P-384) or RS384 (RSA 3072).",
)
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --internal: where to save the private key [default: closer-data/clients/NAME.json].",
)
@click.option(
    "--base-url",
    help=f"With --internal: the server's base URL for the key file [default: $CLOSER_BASE_URL or {DEFAULT_BASE_URL}].",
)
@database_option
def add_command(
    name: str,
    ods: str,
    scopes: tuple[str, ...],
    purpose: str,
    jwks_path: Path | None,
    public_key: str | None,
    internal: bool,
    alg: str,
    key_file: Path | None,
    base_url: str | None,
    database_url: str | None,
) -> None:
    """Register client NAME with its organization, scopes and public key (--jwks, --public-key or --internal)."""
    given = [
        opt for opt, value in (("--jwks", jwks_path), ("--public-key", public_key), ("--internal", internal)) if value
    ]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --jwks FILE, --public-key PEM or --internal")
    if not internal and key_file is not None:
        raise click.UsageError("--key-file is for --internal clients (their private key is saved there)")
    pair = generate_key_pair(alg) if internal else None
    material = json.dumps(pair.jwks) if pair is not None else _material(jwks_path, public_key)
    try:
        new = check_registration(
            name,
            kind=INTERNAL if internal else SYSTEM,
            organization=ods,
            scopes=scopes,
            public_key=material,
            known_types=SEARCH_PARAMS,
            purpose=purpose,
        )
    except (ClientError, ScopeError, KeyMaterialError) as exc:
        raise click.ClickException(str(exc)) from None
    path = key_file or keyfile.default_path(name)
    with opened_store(database_url) as (engine, settings):
        if pair is not None:
            try:
                keyfile.reserve(path)
            except keyfile.KeyFileError as exc:
                raise click.ClickException(str(exc)) from None
        try:
            client = add_client(engine, new)
        except ClientError as exc:
            if pair is not None:
                path.unlink(missing_ok=True)
            raise click.ClickException(str(exc)) from None
    click.echo(f"Registered {client.kind} client {client.name} ({client.organization}): client_id {client.client_id}")
    click.echo(f"  scopes: {' '.join(str(s) for s in client.scopes)}")
    if pair is not None:
        keyfile.write(
            path,
            keyfile.KeyFile(
                name=client.name,
                client_id=client.client_id,
                organization=client.organization,
                scopes=[str(s) for s in client.scopes],
                alg=pair.alg,
                kid=pair.kid,
                token_url=token_endpoint(base_url or settings.base_url or DEFAULT_BASE_URL),
                private_key=pair.private_pem,
            ),
        )
        click.echo(f"  private key ({pair.alg}, kid {pair.kid}) saved to {path} (mode 0600)")
        where = f" --key-file {path}" if key_file is not None else ""
        click.echo(f"  get a token with: closer token --client {client.name}{where}")


def _material(jwks_path: Path | None, public_key: str | None) -> str:
    try:
        if jwks_path is not None:
            return jwks_path.read_text(encoding="utf-8")
        assert public_key is not None
        if public_key.lstrip().startswith("-----BEGIN"):
            return public_key
        return Path(public_key).read_text(encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot read the key: {exc.strerror or exc}") from None


@clients.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the clients as JSON.")
@database_option
def list_command(as_json: bool, database_url: str | None) -> None:
    """List the registered clients, revoked ones included."""
    with opened_store(database_url) as (engine, _settings):
        found = list_clients(engine)
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in found], indent=2))
        return
    if not found:
        click.echo("No clients are registered: add one with `closer clients add`.")
        return
    rows = [
        (
            c.name,
            c.kind,
            c.organization,
            c.purpose,
            c.client_id,
            f"revoked {c.revoked_at:%Y-%m-%d %H:%M}" if c.revoked_at else "active",
            " ".join(str(s) for s in c.scopes),
        )
        for c in found
    ]
    header = ("NAME", "KIND", "ODS", "PURPOSE", "CLIENT_ID", "STATUS", "SCOPES")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])


@clients.command("revoke")
@click.argument("name")
@database_option
def revoke_command(name: str, database_url: str | None) -> None:
    """Revoke client NAME: it gets no more tokens, and the ones it holds stop working at once."""
    with opened_store(database_url) as (engine, _settings):
        try:
            client = revoke_client(engine, name)
        except ClientError as exc:
            raise click.ClickException(str(exc)) from None
    assert client.revoked_at is not None
    click.echo(
        f"Revoked client {client.name} ({client.client_id}) as of {client.revoked_at.isoformat(timespec='seconds')}"
    )


@click.command("token")
@click.option("--client", "client_name", required=True, help="The internal client's name.")
@click.option("--scope", "scopes", multiple=True, help="Scopes to ask for [default: all the key file lists].")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The client's key file [default: closer-data/clients/NAME.json].",
)
@click.option("--url", "url", help="Ask the running server at this base URL over HTTP, not the store in-process.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole token response as JSON.")
@database_option
def token(
    client_name: str,
    scopes: tuple[str, ...],
    key_file: Path | None,
    url: str | None,
    as_json: bool,
    database_url: str | None,
) -> None:
    """Print a bearer token for an internal client: TOKEN=$(closer token --client NAME)"""
    try:
        saved = keyfile.read(key_file or keyfile.default_path(client_name))
        private_key, alg = load_private_key(saved.private_key)
    except (keyfile.KeyFileError, KeyMaterialError) as exc:
        raise click.ClickException(str(exc)) from None
    if saved.name != client_name:
        raise click.ClickException(f"that key file belongs to client '{saved.name}', not '{client_name}'")
    requested = " ".join(scopes) if scopes else " ".join(saved.scopes)
    if url is not None:
        response = _over_http(token_endpoint(url), saved, private_key, alg, requested)
    else:
        with opened_store(database_url) as (engine, settings):
            token_url = token_endpoint(settings.base_url) if settings.base_url else saved.token_url
            form = _form(saved, private_key, alg, requested, token_url)
            try:
                response = TokenService(engine, known_types=SEARCH_PARAMS).issue(form, token_url).as_json()
            except OAuthError as exc:
                raise click.ClickException(f"{exc.error}: {exc.description}") from None
    click.echo(json.dumps(response, indent=2) if as_json else response["access_token"])


def _form(saved: keyfile.KeyFile, private_key: object, alg: str, scope: str, token_url: str) -> dict[str, str]:
    assertion = make_assertion(
        private_key,  # type: ignore[arg-type]
        alg,
        client_id=saved.client_id,
        token_url=token_url,
        kid=saved.kid,
    )
    return {
        "grant_type": GRANT_TYPE,
        "scope": scope,
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
    }


def _over_http(token_url: str, saved: keyfile.KeyFile, private_key: object, alg: str, scope: str) -> dict[str, object]:
    import requests

    try:
        reply = requests.post(token_url, data=_form(saved, private_key, alg, scope, token_url), timeout=30)
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {token_url}: {exc}") from None
    try:
        body = reply.json()
    except ValueError:
        body = {}
    if reply.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        error = (
            body.get("error", f"HTTP {reply.status_code}") if isinstance(body, dict) else f"HTTP {reply.status_code}"
        )
        detail = body.get("error_description", reply.text[:200]) if isinstance(body, dict) else reply.text[:200]
        raise click.ClickException(f"{token_url} refused: {error}: {detail}")
    return body
