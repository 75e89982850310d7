"""The one error family of the service, rendered once as `{"detail", "code"}`."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """Base of every error a client may see. Services raise these, never HTTPException."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.default_detail()
        if code:
            self.code = code
        self.headers = headers
        self.extra = extra or {}
        super().__init__(self.detail)

    @classmethod
    def default_detail(cls) -> str:
        return cls.code.replace("_", " ").capitalize()

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "code": self.code, **self.extra}


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "not_authenticated"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class Unprocessable(AppError):
    """A 422 raised by our own rules (FastAPI's validation errors keep their shape)."""

    status_code = 422
    code = "validation_error"


class RateLimited(AppError):
    status_code = 429
    code = "rate_limited"

    def __init__(self, retry_after: int, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, int(retry_after)))})
        super().__init__(detail or "Too many attempts; try again later", **kwargs)


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"

    def __init__(self, detail: str | None = None, retry_after: int = 5, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(retry_after)})
        super().__init__(detail or "A required backing service is unavailable", **kwargs)


def field_error(
    loc: tuple[str | int, ...], message: str, kind: str = "value_error"
) -> Unprocessable:
    """A 422 in FastAPI's usual shape for a rule checked in a service."""
    return Unprocessable(
        message,
        extra={"detail": [{"type": kind, "loc": list(loc), "msg": message, "input": None}]},
    )
