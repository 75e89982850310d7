"""Verified access tokens are remembered per process; expiry and the login are not."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient

from qoach.auth import tokens
from qoach.auth.tokens import (
    InvalidToken,
    decode_access_token,
    encode_token,
    is_verified_access_token,
)
from qoach.config import Settings
from tests.auth.helpers import bearer, login
from tests.factories import PASSWORD, Factory


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    tokens.clear_verified_access_tokens()
    yield
    tokens.clear_verified_access_tokens()


def _access(settings: Settings, **kwargs: Any) -> str:
    token, _ = encode_token(settings, token_type="access", user_id=1, session_id=2, **kwargs)
    return token


def test_a_verified_token_is_remembered_with_its_claims(settings: Settings) -> None:
    token = _access(settings)
    assert not is_verified_access_token(settings, token)
    first = decode_access_token(settings, token)
    assert is_verified_access_token(settings, token)
    assert (
        decode_access_token(settings, token)
        == first
        == tokens.decode_token(settings, token, "access")
    )


def test_a_remembered_token_past_its_expiry_is_refused(settings: Settings) -> None:
    token = _access(settings)
    claims = decode_access_token(settings, token)
    # the entry as it will be once `exp` has passed (no waiting in a test)
    past = datetime.now(UTC) - timedelta(seconds=1)
    tokens._VERIFIED_ACCESS[(settings.secret_key, token)] = dataclasses.replace(
        claims, expires_at=past
    )
    with pytest.raises(InvalidToken):
        decode_access_token(settings, token)
    assert not is_verified_access_token(settings, token)


def test_invalid_tokens_are_never_remembered(settings: Settings) -> None:
    expired = _access(settings, now=datetime.now(UTC) - timedelta(days=1))
    refresh, _ = encode_token(settings, token_type="refresh", user_id=1, session_id=2)
    for token in (expired, refresh, "garbage", _access(settings)[:-3] + "AAA"):
        with pytest.raises(InvalidToken):
            decode_access_token(settings, token)
        assert not is_verified_access_token(settings, token)


def test_another_secret_verifies_nothing_from_the_cache(settings: Settings) -> None:
    token = _access(settings)
    decode_access_token(settings, token)
    other = settings.model_copy(update={"secret_key": "another-secret-" + "z" * 40})
    with pytest.raises(InvalidToken):
        decode_access_token(other, token)


def test_the_cache_is_bounded(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens, "VERIFIED_ACCESS_MAX", 3)
    issued = [_access(settings, jti=f"jti-{n}") for n in range(5)]
    for token in issued:
        decode_access_token(settings, token)
    assert len(tokens._VERIFIED_ACCESS) == 3
    assert [is_verified_access_token(settings, t) for t in issued] == [False, False] + [True] * 3


async def test_a_remembered_token_stops_at_logout(
    client: AsyncClient, factory: Factory, settings: Settings
) -> None:
    user = await factory.user()
    pair = await login(client, user.email, PASSWORD)
    headers = bearer(pair["access_token"])
    assert (await client.get("/auth/me", headers=headers)).status_code == 200
    assert is_verified_access_token(settings, pair["access_token"])
    out = await client.post(
        "/auth/logout", json={"refresh_token": pair["refresh_token"]}, headers=headers
    )
    assert out.status_code == 204
    assert (await client.get("/auth/me", headers=headers)).status_code == 401
