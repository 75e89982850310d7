"""The one error family of the service, rendered once as `{"detail", "code"}`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


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


class ErrorRead(BaseModel):
    """Every error body. `detail` is a list (FastAPI's shape) for validation errors."""

    detail: str | list[dict[str, Any]]
    code: str


ERROR_TEXT = {
    401: "Missing, invalid or expired token (`not_authenticated`)",
    403: "Your role does not allow this (`forbidden_role`)",
    404: "Not found, or hidden from the caller",
    409: "Conflicts with the current state",
    413: "Upload too large (`payload_too_large`)",
    422: "Invalid input: `detail` lists each problem with its `loc`",
    429: "Rate limited: retry after `Retry-After` seconds",
    503: "A required backing service is down (`service_unavailable`)",
}


def error_responses(
    *codes: int, auth: bool = True, **texts: str
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: (401 when `auth`) plus each status with the error body.

    `texts` overrides a description, keyed `e404="..."`.
    """
    return {
        code: {
            "model": ErrorRead,
            "description": texts.get(f"e{code}", ERROR_TEXT.get(code, "Error")),
        }
        for code in ((401, *codes) if auth else codes)
    }
