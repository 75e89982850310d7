"""The application factory: resources in the lifespan, routers, one error mapping."""

from __future__ import annotations

import gc
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from qoach.broker import BrokerUnavailable, create_broker
from qoach.config import Settings, get_settings
from qoach.db.engine import create_engine, create_sessionmaker
from qoach.db.session import is_connection_error
from qoach.errors import AppError
from qoach.middleware import BodySizeLimitMiddleware

logger = logging.getLogger("qoach")

API_DESCRIPTION = """
Corporate quizzes and learning analytics.

Authenticate with `POST /auth/login` (the **Authorize** button takes email and
password) and send `Authorization: Bearer <access token>`. Errors are
`{"detail": ..., "code": ...}`; lists are `{"items", "total", "limit", "offset"}`.
"""

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "service_unavailable",
}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    # Thousands of open sockets make a full garbage collection slow (~0.7 s at 5,000);
    # young collections every 700 allocations promote a fan-out's in-flight objects and
    # bring one every few fan-outs. Every 50,000 they stay rare (bench/README.md).
    gc.set_threshold(50_000, 10, 10)
    engine = create_engine(settings.database_url, settings)
    read_engine = (
        create_engine(settings.database_read_url, settings)
        if settings.database_read_url
        else engine
    )
    app.state.engine = engine
    app.state.read_engine = read_engine
    app.state.sessionmaker = create_sessionmaker(engine)
    # read sessions never write: on SQLite they BEGIN DEFERRED, so a read (an analytics
    # query beside the request's own session, a long export) never waits for the write lock
    app.state.read_sessionmaker = create_sessionmaker(
        read_engine.execution_options(sqlite_begin="DEFERRED")
    )
    app.state.broker = create_broker(settings)
    try:
        yield
    finally:
        await app.state.broker.close()
        if read_engine is not engine:
            await read_engine.dispose()
        await engine.dispose()


def _error_response(
    status_code: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status_code, headers=headers)


def _echoable(value: Any) -> Any:
    """A rejected input as it can be echoed in a 422: JSON-safe, or null.

    `1e999` and `NaN` parse as JSON (Python reads them as inf / nan) but cannot be
    written back as JSON; bytes are not JSON either.
    """
    if isinstance(value, bytes | bytearray):
        return None
    try:
        json.dumps(value, allow_nan=False, default=str)
    except (ValueError, TypeError, RecursionError):
        return None
    return value


_SECRET_FIELDS = ("password", "token", "secret")


def _is_secret(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_FIELDS)


_MAX_ECHO_DEPTH = 32


def _redacted(value: Any, depth: int = 0) -> Any:
    """The rejected input with passwords and tokens left out; too deep → null."""
    if isinstance(value, dict | list) and depth >= _MAX_ECHO_DEPTH:
        return None
    if isinstance(value, dict):
        return {
            k: None if _is_secret(str(k)) else _redacted(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redacted(v, depth + 1) for v in value]
    return value


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_: Request, exc: AppError) -> JSONResponse:
        return _error_response(exc.status_code, exc.body(), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {k: v for k, v in error.items() if k in {"type", "loc", "msg", "input", "ctx"}}
            for error in exc.errors()
        ]
        for error in errors:
            if "ctx" in error:
                error["ctx"] = {k: str(v) for k, v in error["ctx"].items()}
            if "input" in error:
                secret = any(isinstance(part, str) and _is_secret(part) for part in error["loc"])
                error["input"] = None if secret else _echoable(_redacted(error["input"]))
        return _error_response(422, {"detail": errors, "code": "validation_error"})

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "error")
        detail = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return _error_response(
            exc.status_code, {"detail": detail, "code": code}, dict(exc.headers or {})
        )

    @app.exception_handler(BrokerUnavailable)
    async def _broker_down(_: Request, exc: BrokerUnavailable) -> JSONResponse:
        logger.warning("broker unavailable: %s", exc)
        return _error_response(
            503,
            {"detail": "A required backing service is unavailable", "code": "service_unavailable"},
            {"Retry-After": "5"},
        )

    async def _unhandled(_: Request, exc: Exception) -> JSONResponse:
        if is_connection_error(exc):
            logger.warning("database unavailable: %s", exc)
            # pool exhausted (every connection busy for DATABASE_POOL_TIMEOUT): overload
            busy = isinstance(exc, PoolTimeout)
            detail = "The service is busy, retry later" if busy else "The database is unavailable"
            return _error_response(
                503,
                {"detail": detail, "code": "service_unavailable"},
                {"Retry-After": "5"},
            )
        logger.exception("unhandled error", exc_info=exc)
        return _error_response(500, {"detail": "Internal server error", "code": "internal_error"})

    # Database and socket errors get handlers of their own: a handler for `Exception`
    # runs in Starlette's outermost middleware, which re-raises after answering, and
    # uvicorn then closes the keep-alive connection under the client's next request.
    app.add_exception_handler(DBAPIError, _unhandled)
    app.add_exception_handler(PoolTimeout, _unhandled)
    app.add_exception_handler(OSError, _unhandled)
    app.add_exception_handler(Exception, _unhandled)


def create_app(settings: Settings | None = None) -> FastAPI:
    from qoach.routes import OPENAPI_TAGS, include_routers

    settings = settings or get_settings()
    app = FastAPI(
        title="Qoach",
        version="0.1.0",
        description=API_DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)

    include_routers(app)

    if settings.backend_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.backend_cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        # the multipart envelope around the file: the service checks the file itself
        overrides={"/quizzes/import": settings.import_max_bytes + 64 * 1024},
    )
    return app
