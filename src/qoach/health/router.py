"""Liveness and the health of the database and the broker."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from qoach.broker import Broker, BrokerUnavailable
from qoach.db.engine import describe_database

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class ServiceHealth(BaseModel):
    status: Literal["ok", "error", "disabled"]
    source: Literal["local", "railway", "embedded"]
    host: str | None
    error: str | None = None


class AllHealth(BaseModel):
    status: Literal["ok", "degraded"]
    database: ServiceHealth
    redis: ServiceHealth


async def check_database(request: Request) -> ServiceHealth:
    source, host = describe_database(request.app.state.settings.database_url)
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            async with request.app.state.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return ServiceHealth(
            status="error", source=source, host=host, error=f"{type(exc).__name__}: {message}"[:300]
        )
    return ServiceHealth(status="ok", source=source, host=host)


async def check_broker(request: Request) -> ServiceHealth:
    broker: Broker = request.app.state.broker
    if broker.source == "embedded":
        return ServiceHealth(status="disabled", source="embedded", host=None)
    try:
        await broker.ping()
    except BrokerUnavailable as exc:
        return ServiceHealth(
            status="error", source=broker.source, host=broker.host, error=str(exc)[:300]
        )
    return ServiceHealth(status="ok", source=broker.source, host=broker.host)


def _without_empty_error(payload: dict[str, Any]) -> dict[str, Any]:
    """`error` appears only when there is one; `host` stays (null for SQLite)."""
    cleaned = {k: v for k, v in payload.items() if not (k == "error" and v is None)}
    return {k: _without_empty_error(v) if isinstance(v, dict) else v for k, v in cleaned.items()}


def _respond(health: BaseModel, failed: bool) -> JSONResponse:
    payload = _without_empty_error(health.model_dump(exclude_none=False))
    return JSONResponse(payload, status_code=503 if failed else 200)


_503: dict[int | str, dict[str, Any]] = {
    503: {"description": "The service does not answer", "model": ServiceHealth}
}


@router.get("/", response_model=Liveness, summary="Liveness")
async def liveness() -> Liveness:
    return Liveness()


@router.get("/health/db", response_model=ServiceHealth, responses=_503, summary="Database health")
async def health_db(request: Request) -> JSONResponse:
    result = await check_database(request)
    return _respond(result, result.status == "error")


@router.get("/health/redis", response_model=ServiceHealth, responses=_503, summary="Redis health")
async def health_redis(request: Request) -> JSONResponse:
    result = await check_broker(request)
    return _respond(result, result.status == "error")


@router.get(
    "/health/all",
    response_model=AllHealth,
    responses={503: {"description": "Degraded", "model": AllHealth}},
    summary="Health of every backing service",
)
async def health_all(request: Request) -> JSONResponse:
    database, redis = await asyncio.gather(check_database(request), check_broker(request))
    failed = database.status == "error" or redis.status == "error"
    return _respond(
        AllHealth(status="degraded" if failed else "ok", database=database, redis=redis), failed
    )
