"""The socket accepts Auth0 tokens too (its user is found or created from the email claim)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select

from qoach.config import Settings
from qoach.models import User
from tests.auth.helpers import running_app
from tests.auth.test_auth0 import AUDIENCE, DOMAIN, JwksServer, SigningKey, claims
from tests.notifications.conftest import LiveServer, open_socket, serving, ws_url
from tests.notifications.helpers import make_notifications


@pytest.fixture(scope="module")
def jwks_with_key() -> Iterator[tuple[JwksServer, SigningKey]]:
    server, key = JwksServer(), SigningKey("ws-key")
    server.publish(key)
    server.thread.start()
    yield server, key
    server.httpd.shutdown()
    server.httpd.server_close()


@pytest.fixture
async def auth0_server(
    client: AsyncClient, settings: Settings, jwks_with_key: tuple[JwksServer, SigningKey]
) -> AsyncIterator[tuple[FastAPI, LiveServer]]:
    jwks, _ = jwks_with_key
    auth0_settings = settings.model_copy(
        update={"auth0_domain": DOMAIN, "auth0_audience": AUDIENCE, "auth0_jwks_url": jwks.url}
    )
    async with running_app(auth0_settings) as application, serving(application) as live:
        yield application, live


async def test_auth0_token_opens_a_socket(
    auth0_server: tuple[FastAPI, LiveServer], jwks_with_key: tuple[JwksServer, SigningKey]
) -> None:
    application, live = auth0_server
    _, key = jwks_with_key
    token = key.sign(claims(email="Carol@Example.com"))
    async with open_socket(live.ws_url, subprotocols=["bearer", token]) as sock:
        async with application.state.sessionmaker() as session:
            user = (
                await session.scalars(select(User).where(User.email == "carol@example.com"))
            ).one()  # created on first use
            (note,) = await make_notifications(session, application, user)
        assert (await sock.next())["data"]["id"] == note.id

    wrong_audience = key.sign(claims(aud="https://someone-else"))
    async with open_socket(ws_url(live.ws_url, wrong_audience)) as sock:
        assert await sock.closed_with() == 4401
