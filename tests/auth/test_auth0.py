"""Auth0 RS256 tokens against a JWKS served over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from httpx import AsyncClient
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.auth.auth0 import JWKS_REFRESH_INTERVAL
from qoach.config import Settings
from qoach.models import User
from tests.auth.helpers import bearer, client_for, running_app
from tests.factories import Factory

DOMAIN = "tenant.example.com"
ISSUER = f"https://{DOMAIN}/"
AUDIENCE = "https://api.qoach.test"


class SigningKey:
    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, claims: dict[str, Any], **headers: Any) -> str:
        return jwt.encode(
            claims, self.private, algorithm="RS256", headers={"kid": self.kid, **headers}
        )


class JwksServer:
    """Serves `{"keys": [...]}` from a thread; counts the fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def publish(self, *keys: SigningKey) -> None:
        self.keys = [key.jwk for key in keys]


@pytest.fixture(scope="module")
def signing_keys() -> dict[str, SigningKey]:
    return {kid: SigningKey(kid) for kid in ("key-1", "key-2", "attacker")}


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
def jwks(jwks_server: JwksServer, signing_keys: dict[str, SigningKey]) -> JwksServer:
    jwks_server.publish(signing_keys["key-1"])
    jwks_server.hits = 0
    return jwks_server


@pytest.fixture
async def auth0_app(
    clean_app: FastAPI, settings: Settings, jwks: JwksServer
) -> AsyncIterator[FastAPI]:
    auth0_settings = settings.model_copy(
        update={
            "auth0_domain": DOMAIN,
            "auth0_audience": AUDIENCE,
            "auth0_jwks_url": jwks.url,
        }
    )
    assert auth0_settings.auth0_enabled and auth0_settings.auth0_issuer_url == ISSUER
    async with running_app(auth0_settings) as application:
        yield application


@pytest.fixture
async def http(auth0_app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with client_for(auth0_app) as client:
        yield client


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "auth0|alice",
        "email": "Alice@Example.com",
        "iat": now,
        "exp": now + 600,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"


async def users_named(db: AsyncSession, email: str) -> int:
    count = await db.scalar(select(func.count()).select_from(User).where(User.email == email))
    await db.commit()
    return int(count or 0)


async def test_valid_token_creates_the_user_once(
    http: AsyncClient, signing_keys: dict[str, SigningKey], db: AsyncSession, jwks: JwksServer
) -> None:
    token = signing_keys["key-1"].sign(claims())
    first = await http.get("/auth/me", headers=bearer(token))
    assert first.status_code == 200, first.text
    assert first.json()["email"] == "alice@example.com"
    second = await http.get("/auth/me", headers=bearer(token))
    assert second.status_code == 200
    assert second.json()["id"] == first.json()["id"]
    assert await users_named(db, "alice@example.com") == 1
    user = await db.get(User, first.json()["id"])
    assert user is not None and user.auth0_sub == "auth0|alice" and user.password_hash is None
    await db.commit()
    assert jwks.hits == 1  # the JWKS is cached


async def test_concurrent_first_use_creates_one_user(
    http: AsyncClient, signing_keys: dict[str, SigningKey], db: AsyncSession
) -> None:
    token = signing_keys["key-1"].sign(claims(sub="auth0|bob", email="bob@example.com"))
    responses = await asyncio.gather(
        *(http.get("/auth/me", headers=bearer(token)) for _ in range(4))
    )
    assert [r.status_code for r in responses] == [200] * 4
    assert len({r.json()["id"] for r in responses}) == 1
    assert await users_named(db, "bob@example.com") == 1


async def test_token_is_accepted_on_other_endpoints(
    http: AsyncClient, signing_keys: dict[str, SigningKey]
) -> None:
    token = signing_keys["key-1"].sign(claims())
    response = await http.get("/users", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["total"] == 1


async def test_existing_user_is_found_by_email(
    http: AsyncClient, factory: Factory, signing_keys: dict[str, SigningKey], db: AsyncSession
) -> None:
    existing = await factory.user(email="carol@example.com")
    token = signing_keys["key-1"].sign(claims(sub="auth0|carol", email="CAROL@example.com"))
    response = await http.get("/auth/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["id"] == existing.id
    assert await users_named(db, "carol@example.com") == 1


async def test_custom_email_claim(
    clean_app: FastAPI, settings: Settings, jwks: JwksServer, signing_keys: dict[str, SigningKey]
) -> None:
    custom = settings.model_copy(
        update={
            "auth0_domain": DOMAIN,
            "auth0_audience": AUDIENCE,
            "auth0_jwks_url": jwks.url,
            "auth0_email_claim": "https://qoach/email",
        }
    )
    async with running_app(custom) as application, client_for(application) as client:
        token = signing_keys["key-1"].sign(
            claims(email=None, **{"https://qoach/email": "dave@example.com"})
        )
        response = await client.get("/auth/me", headers=bearer(token))
        assert response.status_code == 200
        assert response.json()["email"] == "dave@example.com"
        plain = signing_keys["key-1"].sign(claims())  # only the default `email` claim
        assert (await client.get("/auth/me", headers=bearer(plain))).status_code == 401


async def test_unknown_kid_then_rotation_is_picked_up(
    http: AsyncClient,
    auth0_app: FastAPI,
    signing_keys: dict[str, SigningKey],
    jwks: JwksServer,
) -> None:
    rotated = signing_keys["key-2"].sign(claims())
    # key-2 is not published yet: one fetch, then 401
    assert (await http.get("/auth/me", headers=bearer(rotated))).status_code == 401
    assert jwks.hits == 1
    jwks.publish(signing_keys["key-1"], signing_keys["key-2"])
    # within the refresh interval an unknown kid does not trigger another fetch
    for _ in range(3):
        assert (await http.get("/auth/me", headers=bearer(rotated))).status_code == 401
    assert jwks.hits == 1
    # once the interval has passed, the unknown kid refreshes the keys
    cache = auth0_app.state.auth0_jwks_cache
    cache.fetched_at -= JWKS_REFRESH_INTERVAL
    response = await http.get("/auth/me", headers=bearer(rotated))
    assert response.status_code == 200, response.text
    assert jwks.hits == 2
    # the old key keeps working, without another fetch
    old = signing_keys["key-1"].sign(claims())
    assert (await http.get("/auth/me", headers=bearer(old))).status_code == 200
    assert jwks.hits == 2


async def test_key_removed_from_jwks_stops_working_after_refresh(
    http: AsyncClient,
    auth0_app: FastAPI,
    signing_keys: dict[str, SigningKey],
    jwks: JwksServer,
) -> None:
    old = signing_keys["key-1"].sign(claims())
    assert (await http.get("/auth/me", headers=bearer(old))).status_code == 200
    jwks.publish(signing_keys["key-2"])
    auth0_app.state.auth0_jwks_cache.fetched_at -= JWKS_REFRESH_INTERVAL
    new = signing_keys["key-2"].sign(claims())
    assert (await http.get("/auth/me", headers=bearer(new))).status_code == 200
    assert (await http.get("/auth/me", headers=bearer(old))).status_code == 401


def _hs256_with_public_key(key: SigningKey) -> str:
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": key.kid}, claims())
    signature = hmac.new(key.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _rs256_forgeries(keys: dict[str, SigningKey], jwks_url: str) -> dict[str, str]:
    good = keys["key-1"]
    attacker = keys["attacker"]
    return {
        "hs256 signed with the public key": _hs256_with_public_key(good),
        "alg none": unsigned({"alg": "none", "typ": "JWT", "kid": good.kid}, claims()) + ".",
        "alg None with RS256 kid": unsigned({"alg": "None", "kid": good.kid}, claims()) + ".",
        "wrong issuer": good.sign(claims(iss="https://evil.example.com/")),
        "no issuer": good.sign(claims(iss=None)),
        "wrong audience": good.sign(claims(aud="https://other-api.test")),
        "no audience": good.sign(claims(aud=None)),
        "expired": good.sign(claims(exp=int(time.time()) - 60, iat=int(time.time()) - 700)),
        "no exp": good.sign(claims(exp=None)),
        "no email": good.sign(claims(email=None)),
        "unverified email": good.sign(claims(email_verified=False)),
        "signed by an unknown key": attacker.sign(claims(), kid="key-1"),
        "jku header": attacker.sign(claims(), kid="attacker", jku=jwks_url),
        "jku header with a valid signature": good.sign(claims(), jku=jwks_url),
        "x5u header": good.sign(claims(), x5u=jwks_url),
        "embedded jwk header": attacker.sign(claims(), jwk=attacker.jwk),
        "tampered payload": _tamper(good.sign(claims())),
        "no kid": jwt.encode(claims(), good.private, algorithm="RS256"),
    }


def _tamper(token: str) -> str:
    header, _, signature = token.split(".")
    payload = _b64(json.dumps(claims(email="mallory@example.com")).encode())
    return f"{header}.{payload}.{signature}"


async def test_forged_and_invalid_tokens_are_401(
    http: AsyncClient, signing_keys: dict[str, SigningKey], jwks: JwksServer, db: AsyncSession
) -> None:
    for name, token in _rs256_forgeries(signing_keys, jwks.url).items():
        response = await http.get("/auth/me", headers=bearer(token))
        assert response.status_code == 401, name
        assert response.json() == {
            "detail": "Invalid or expired token",
            "code": "not_authenticated",
        }
        assert response.headers["WWW-Authenticate"] == "Bearer"
    count = await db.scalar(select(func.count()).select_from(User))
    await db.commit()
    assert count == 0


async def test_our_own_tokens_still_work_and_stay_typed(
    http: AsyncClient, factory: Factory
) -> None:
    user = await factory.user()
    access, refresh, _ = await factory.tokens(user)
    assert (await http.get("/auth/me", headers=bearer(access))).status_code == 200
    assert (await http.get("/auth/me", headers=bearer(refresh))).status_code == 401


async def test_rs256_tokens_are_refused_when_auth0_is_off(
    client: AsyncClient, signing_keys: dict[str, SigningKey]
) -> None:
    token = signing_keys["key-1"].sign(claims())
    assert (await client.get("/auth/me", headers=bearer(token))).status_code == 401


async def test_unreachable_jwks_is_401(
    clean_app: FastAPI, settings: Settings, signing_keys: dict[str, SigningKey]
) -> None:
    broken = settings.model_copy(
        update={
            "auth0_domain": DOMAIN,
            "auth0_audience": AUDIENCE,
            "auth0_jwks_url": "http://127.0.0.1:1/.well-known/jwks.json",
        }
    )
    async with running_app(broken) as application, client_for(application) as client:
        token = signing_keys["key-1"].sign(claims())
        response = await client.get("/auth/me", headers=bearer(token))
        assert response.status_code == 401


async def test_public_quiz_view_takes_auth0_tokens(
    http: AsyncClient, signing_keys: dict[str, SigningKey], factory: Factory, db: AsyncSession
) -> None:
    """The quiz view's light token dependency resolves (and creates) Auth0 users too."""
    company = await factory.company(await factory.user())
    quiz = await factory.quiz(company)
    token = signing_keys["key-1"].sign(claims(sub="auth0|dave", email="dave@example.com"))

    not_member = await http.get(f"/quizzes/{quiz.id}", headers=bearer(token))
    assert not_member.status_code == 404
    # the user made on first use is committed, although the request answered 404
    assert await users_named(db, "dave@example.com") == 1
    dave = (await db.scalars(select(User).where(User.email == "dave@example.com"))).one()
    await factory.member(company, dave)

    view = await http.get(f"/quizzes/{quiz.id}", headers=bearer(token))
    assert view.status_code == 200, view.text
    assert view.json()["id"] == quiz.id
    assert (
        await http.get(f"/quizzes/{quiz.id}", headers=bearer(_tamper(token)))
    ).status_code == 401
