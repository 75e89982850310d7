"""Token attacks beyond tests/auth: key-location headers, deleted users, refresh races.

Already proven elsewhere (referenced in SECURITY.md, not repeated here):
`alg: none`, foreign HS256 secrets, wrong `iss` / `typ` (tests/auth/test_refresh.py),
Auth0 forgeries (tests/auth/test_auth0.py), logout and password change revoking
access and refresh tokens (tests/auth/test_logout.py, tests/users/test_users.py)
and closing sockets (tests/notifications/test_ws.py).

The header-injection tests serve a local HTTP server at the URLs the headers name
and assert it never got a request: no key is ever fetched from a token's say-so.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from httpx import AsyncClient
from jwt.algorithms import RSAAlgorithm
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.config import Settings
from tests.auth.helpers import bearer, client_for, fetch_session_row, running_app
from tests.factories import PASSWORD, Factory
from tests.security.helpers import RequestLog

DOMAIN = "tenant.example.com"
AUDIENCE = "https://api.qoach.test"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _with_header(token: str, **extra: Any) -> str:
    """The same token with fields added to its header (the signature no longer fits)."""
    header_b64, payload, signature = token.split(".")
    header = json.loads(base64.urlsafe_b64decode(header_b64 + "=" * (-len(header_b64) % 4)))
    return ".".join((_b64(json.dumps({**header, **extra}).encode()), payload, signature))


def _hs256(claims: dict[str, Any], key: bytes, **header: Any) -> str:
    """An HS256 token signed by hand (PyJWT refuses keys that look like JWKs)."""
    signing_input = ".".join(
        _b64(json.dumps(part).encode()) for part in ({"alg": "HS256", **header}, claims)
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


class Key:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm="RS256", headers={"kid": self.kid, **headers}
        )


@pytest.fixture(scope="module")
def keys() -> dict[str, Key]:
    return {kid: Key(kid) for kid in ("tenant", "attacker")}


@pytest.fixture
def log() -> Iterator[RequestLog]:
    with RequestLog() as server:
        yield server


def _our_claims(user_id: int, session_id: int, typ: str = "access") -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": "qoach",
        "sub": str(user_id),
        "sid": session_id,
        "typ": typ,
        "jti": "x" * 32,
        "iat": now,
        "exp": now + 600,
    }


async def test_key_location_headers_on_our_hs256_tokens_fetch_nothing(
    client: AsyncClient, factory: Factory, keys: dict[str, Key], log: RequestLog
) -> None:
    user = await factory.user()
    access, refresh, auth_session = await factory.tokens(user)
    claims = _our_claims(user.id, auth_session.id)
    attacker = keys["attacker"]
    jwks_url = log.url("/jwks.json")
    forged = {
        # our own valid tokens with key-location headers spliced in
        "jku on a real token": _with_header(access, jku=jwks_url),
        "x5u on a real token": _with_header(access, x5u=log.url("/cert.pem")),
        "jwk on a real token": _with_header(access, jwk=attacker.jwk),
        "kid url on a real token": _with_header(access, kid=log.url("/kid")),
        # tokens the attacker signs and points us to the key for
        "HS256 + jku": jwt.encode(
            claims, "attacker-secret-" * 3, algorithm="HS256", headers={"jku": jwks_url}
        ),
        # the "key file" named by the kid is empty: a forger's dream if kid were trusted
        "HS256 + kid path traversal": _hs256(claims, b"", kid="../../../../dev/null"),
        "RS256 + jku": attacker.sign(claims, jku=jwks_url),
        "RS256 + x5u": attacker.sign(claims, x5u=log.url("/cert.pem")),
        "RS256 + embedded jwk": attacker.sign(claims, jwk=attacker.jwk),
        "RS256 + x5c": attacker.sign(claims, x5c=[_b64(b"not a certificate")]),
        "HS256 keyed with the embedded jwk": _hs256(
            claims, json.dumps(attacker.jwk).encode(), jwk=attacker.jwk
        ),
        "none + jku": f"{_b64(json.dumps({'alg': 'none', 'jku': jwks_url}).encode())}."
        f"{_b64(json.dumps(claims).encode())}.",
    }
    for name, token in forged.items():
        response = await client.get("/auth/me", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.json()["code"] == "not_authenticated", name
        refresh_like = _with_header(refresh, jku=jwks_url) if "real" in name else token
        response = await client.post("/auth/refresh", json={"refresh_token": refresh_like})
        assert response.status_code == 401, name
    await asyncio.sleep(0.2)  # a fetch from a worker thread would have landed by now
    assert log.requests == []
    # the untouched tokens still work: the 401s above came from the headers
    assert (await client.get("/auth/me", headers=bearer(access))).status_code == 200


@pytest.fixture
async def auth0_http(
    clean_app: FastAPI, settings: Settings, keys: dict[str, Key]
) -> AsyncIterator[tuple[AsyncClient, RequestLog, RequestLog]]:
    """An app with Auth0 on: (client, the tenant's JWKS server, the attacker's server)."""
    with RequestLog() as tenant, RequestLog() as attacker:
        tenant_keys = {"keys": [keys["tenant"].jwk]}
        tenant.body = json.dumps(tenant_keys).encode()
        auth0 = settings.model_copy(
            update={
                "auth0_domain": DOMAIN,
                "auth0_audience": AUDIENCE,
                "auth0_jwks_url": tenant.url("/.well-known/jwks.json"),
            }
        )
        async with running_app(auth0) as application, client_for(application) as http:
            yield http, tenant, attacker


def _auth0_claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": f"https://{DOMAIN}/",
        "aud": AUDIENCE,
        "sub": "auth0|mallory",
        "email": "mallory@example.com",
        "iat": now,
        "exp": now + 600,
    }
    claims.update(overrides)
    return claims


async def test_key_location_headers_on_auth0_tokens_fetch_nothing(
    auth0_http: tuple[AsyncClient, RequestLog, RequestLog], keys: dict[str, Key]
) -> None:
    http, tenant, attacker_server = auth0_http
    tenant_key, attacker = keys["tenant"], keys["attacker"]
    claims = _auth0_claims()
    url = attacker_server.url
    forged = {
        "jku, attacker key": attacker.sign(claims, jku=url("/jwks.json")),
        "jku, tenant key": tenant_key.sign(claims, jku=url("/jwks.json")),
        "x5u": attacker.sign(claims, x5u=url("/cert.pem")),
        "x5u, tenant key": tenant_key.sign(claims, x5u=url("/cert.pem")),
        "embedded jwk": attacker.sign(claims, jwk=attacker.jwk),
        "embedded jwk, tenant kid": attacker.sign(claims, kid=tenant_key.kid, jwk=attacker.jwk),
        "x5c": attacker.sign(claims, x5c=[_b64(b"not a certificate")]),
        "kid is a url": attacker.sign(claims, kid=url("/key")),
        "tenant token with jku spliced in": _with_header(
            tenant_key.sign(claims), jku=url("/jwks.json")
        ),
    }
    for name, token in forged.items():
        response = await http.get("/auth/me", headers=bearer(token))
        assert response.status_code == 401, name
    await asyncio.sleep(0.2)
    assert attacker_server.requests == []
    # only the configured JWKS URL was ever read, and at most once per refresh interval
    assert set(tenant.requests) <= {"GET /.well-known/jwks.json"}
    assert len(tenant.requests) <= 1
    # a genuine tenant token is accepted: the setup is sound
    genuine = tenant_key.sign(_auth0_claims(sub="auth0|alice", email="alice@example.com"))
    assert (await http.get("/auth/me", headers=bearer(genuine))).status_code == 200
    assert attacker_server.requests == []


async def test_tokens_of_a_deleted_user_never_work_again_even_when_ids_are_reused(
    client: AsyncClient,
) -> None:
    """The deleted account's tokens stay dead for the next account (SQLite reused ids)."""
    leaving = {"email": "leaving@example.com", "password": PASSWORD}
    assert (await client.post("/auth/register", json=leaving)).status_code == 201
    old = (await client.post("/auth/login", json=leaving)).json()
    old_me = (await client.get("/auth/me", headers=bearer(old["access_token"]))).json()
    assert (
        await client.delete("/users/me", headers=bearer(old["access_token"]))
    ).status_code == 204

    newcomer = {"email": "newcomer@example.com", "password": PASSWORD}
    created = await client.post("/auth/register", json=newcomer)
    assert created.status_code == 201
    new = (await client.post("/auth/login", json=newcomer)).json()

    response = await client.get("/auth/me", headers=bearer(old["access_token"]))
    assert response.status_code == 401, (old_me["id"], created.json()["id"], response.text)
    refreshed = await client.post("/auth/refresh", json={"refresh_token": old["refresh_token"]})
    assert refreshed.status_code == 401
    # the old refresh token did not touch the newcomer's login either
    me = await client.get("/auth/me", headers=bearer(new["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == "newcomer@example.com"
    again = await client.post("/auth/refresh", json={"refresh_token": new["refresh_token"]})
    assert again.status_code == 200


async def test_many_concurrent_refreshes_with_one_token_never_two_successes(
    client: AsyncClient, factory: Factory, db: AsyncSession
) -> None:
    """Eight at once (tests/auth has two): exactly one wins and the login ends, by design."""
    user = await factory.user()
    _, refresh, auth_session = await factory.tokens(user)
    responses = await asyncio.gather(
        *(client.post("/auth/refresh", json={"refresh_token": refresh}) for _ in range(8))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [401] * 7, statuses
    winner = next(r for r in responses if r.status_code == 200).json()
    assert (await fetch_session_row(db, auth_session.id)).revoked_at is not None
    assert (await client.get("/auth/me", headers=bearer(winner["access_token"]))).status_code == 401
    again = await client.post("/auth/refresh", json={"refresh_token": winner["refresh_token"]})
    assert again.status_code == 401
