"""CORS: browsers may call the API only from `BACKEND_CORS_ORIGINS` (none by default)."""

from __future__ import annotations

from fastapi import FastAPI
from httpx import AsyncClient

from qoach.config import Settings
from tests.auth.helpers import client_for, running_app
from tests.factories import Factory

ALLOWED = "https://app.qoach.example"
EVIL = "https://evil.example"


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    }


async def test_no_origin_is_allowed_by_default(client: AsyncClient, factory: Factory) -> None:
    headers = await factory.headers(await factory.user())
    response = await client.get("/auth/me", headers={**headers, "Origin": EVIL})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    preflight = await client.options("/companies", headers=_preflight(EVIL))
    assert "access-control-allow-origin" not in preflight.headers


async def test_only_the_configured_origins_are_allowed(
    clean_app: FastAPI, settings: Settings, factory: Factory
) -> None:
    headers = await factory.headers(await factory.user())
    configured = settings.model_copy(update={"backend_cors_origins": [ALLOWED]})
    async with running_app(configured) as application, client_for(application) as http:
        allowed = await http.options("/companies", headers=_preflight(ALLOWED))
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == ALLOWED
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()

        refused = await http.options("/companies", headers=_preflight(EVIL))
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers

        simple = await http.get("/auth/me", headers={**headers, "Origin": EVIL})
        assert "access-control-allow-origin" not in simple.headers
        own = await http.get("/auth/me", headers={**headers, "Origin": ALLOWED})
        assert own.headers["access-control-allow-origin"] == ALLOWED
        # never a wildcard while credentials are allowed
        assert own.headers["access-control-allow-origin"] != "*"
