"""`/auth/*`: register, login (JSON or OAuth2 form), refresh, logout, me."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from qoach.auth import service
from qoach.auth.dependencies import CurrentUser
from qoach.auth.schemas import (
    LoginRequest,
    LogoutRequest,
    RefreshRequest,
    TokenPair,
    error_responses,
)
from qoach.broker import BrokerDep
from qoach.config import Settings
from qoach.db.session import SessionDep
from qoach.openapi_links import created, link
from qoach.text import NO_NUL
from qoach.users.schemas import UserCreate, UserRead

router = APIRouter(prefix="/auth", tags=["auth"])

_401 = (401, "Missing, invalid, expired or revoked token")
_422 = (422, "Invalid input")
PASSWORD_HASHING_503 = (
    503,
    "Too many password checks at once in this process (`service_unavailable`): every "
    "hashing slot and queue place is taken; retry after `Retry-After` seconds",
)

_FORM_MEDIA_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

_IGNORED_MAX = 1024  # the OAuth2 form's fields we ignore are still bounded

_LOGIN_FORM_SCHEMA: dict[str, Any] = {
    "title": "OAuth2PasswordForm",
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "username": {
            "type": "string",
            "minLength": 1,
            "maxLength": 320,
            "pattern": NO_NUL,
            "description": "The email address.",
        },
        "password": {"type": "string", "format": "password", "minLength": 1, "maxLength": 1024},
        "grant_type": {"type": "string", "enum": ["password"]},
        "scope": {"type": "string", "maxLength": _IGNORED_MAX, "description": "Ignored."},
        "client_id": {"type": "string", "maxLength": _IGNORED_MAX, "description": "Ignored."},
        "client_secret": {"type": "string", "maxLength": _IGNORED_MAX, "description": "Ignored."},
    },
}

_LOGIN_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": _LOGIN_FORM_SCHEMA},
        },
    }
}


def with_retry_after(
    responses: dict[int | str, dict[str, Any]], *statuses: int
) -> dict[int | str, dict[str, Any]]:
    """Document the `Retry-After` header on these statuses of `responses`."""
    for code in statuses:
        responses[code] = {
            **responses[code],
            "headers": {
                "Retry-After": {
                    "description": "Seconds to wait before trying again.",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        }
    return responses


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _invalid(exc: ValidationError, rename: dict[str, str] | None = None) -> RequestValidationError:
    rename = rename or {}
    errors = []
    for error in exc.errors(include_url=False):
        loc = [rename.get(str(part), part) for part in error["loc"]]
        errors.append({**error, "loc": ("body", *loc)})
    return RequestValidationError(errors)


async def _login_credentials(request: Request) -> LoginRequest:
    """Credentials from a JSON body or from the OAuth2 password form (by Content-Type)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in _FORM_MEDIA_TYPES:
        form = await request.form(max_files=0, max_fields=20)
        for name in ("scope", "client_id", "client_secret"):
            value = form.get(name)
            if isinstance(value, str) and len(value) > _IGNORED_MAX:
                raise RequestValidationError(
                    [
                        {
                            "type": "string_too_long",
                            "loc": ("body", name),
                            "msg": f"String should have at most {_IGNORED_MAX} characters",
                            "input": None,
                        }
                    ]
                )
        data = {
            field: value
            for field, value in (
                ("email", form.get("username")),
                ("password", form.get("password")),
            )
            if isinstance(value, str)
        }
        try:
            return LoginRequest.model_validate(data)
        except ValidationError as exc:
            raise _invalid(exc, {"email": "username"}) from None
    if media_type == "application/json" or media_type.endswith("+json"):
        try:
            return LoginRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            raise _invalid(exc) from None
    raise RequestValidationError(
        [
            {
                "type": "model_attributes_type",
                "loc": ("body",),
                "msg": "Send JSON {email, password} or the OAuth2 password form",
                "input": None,
            }
        ]
    )


@router.post(
    "/register",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create an account",
    description=(
        "The email is stored lower-case; the password is 8–128 characters. Passwords are "
        "hashed in a bounded pool per process: when it is full the answer is 503 with "
        "`Retry-After` (`PASSWORD_HASH_MAX_CONCURRENT`, `PASSWORD_HASH_MAX_QUEUED`)."
    ),
    responses={
        **with_retry_after(
            error_responses(
                (409, "The email is taken (`email_taken`)"), _422, PASSWORD_HASHING_503
            ),
            503,
        ),
        **created(
            "The new user",
            GetUser=link("GET", "/users/{user_id}", "Read the user", user_id="$response.body#/id"),
        ),
    },
)
async def register(data: UserCreate, session: SessionDep) -> UserRead:
    return UserRead.model_validate(await service.register(session, data))


@router.post(
    "/login",
    response_model=TokenPair,
    summary="Log in with email and password",
    description=(
        "Takes JSON `{email, password}` or the OAuth2 password form (`username` = email, "
        "`password`), so the **Authorize** button of `/docs` works. Each login is a "
        "separate session that `/auth/logout` can end.\n\n"
        "Unknown emails and wrong passwords get the same 401 (`invalid_credentials`), "
        "as do accounts created through Auth0 (they have no password). Failed logins "
        "are counted per account and per client address; once either count reaches its "
        "limit (`LOGIN_MAX_FAILURES_PER_ACCOUNT`, `LOGIN_MAX_FAILURES_PER_ADDRESS` within "
        "`LOGIN_FAILURE_WINDOW_SECONDS`) every login for it answers 429 with `Retry-After` "
        "until the window ends, even with the right password. A successful login does not "
        "reset the counts. If the broker (Redis) is down, the limit is not enforced "
        "(fail open, logged) so that logins keep working.\n\n"
        "Password checks run in a bounded pool per process (`PASSWORD_HASH_MAX_CONCURRENT` "
        "at once, `PASSWORD_HASH_MAX_QUEUED` waiting): beyond that a login is answered 503 "
        "with `Retry-After` at once, and is not counted as a failure."
    ),
    openapi_extra=_LOGIN_OPENAPI,
    responses=with_retry_after(
        error_responses(
            (401, "Wrong email or password (`invalid_credentials`)"),
            _422,
            (429, "Too many failed logins (`rate_limited`); see `Retry-After`"),
            PASSWORD_HASHING_503,
        ),
        429,
        503,
    ),
)
async def login(request: Request, session: SessionDep, broker: BrokerDep) -> TokenPair:
    credentials = await _login_credentials(request)
    address = request.client.host if request.client else None
    return await service.login(session, broker, _settings(request), credentials, address)


@router.post(
    "/refresh",
    response_model=TokenPair,
    summary="Exchange a refresh token for a new pair",
    description=(
        "Rotation: the refresh token given here stops working and the new one replaces "
        "it; the login's lifetime restarts (`REFRESH_TOKEN_EXPIRE_DAYS`). Presenting an "
        "already rotated refresh token is 401 and ends that whole login (its refresh and "
        "access tokens); other logins of the user are untouched. Of two concurrent "
        "refreshes with the same token exactly one succeeds; the other counts as reuse."
    ),
    responses=error_responses(_401, _422),
)
async def refresh(
    data: RefreshRequest, request: Request, session: SessionDep, broker: BrokerDep
) -> TokenPair:
    return await service.refresh(session, broker, _settings(request), data.refresh_token)


@router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End a login",
    description=(
        "Ends the login the refresh token belongs to: its refresh and access tokens stop "
        "working. Only the caller's own logins can be ended; a refresh token of another "
        "user (or an invalid one) is 401 (`invalid_token`)."
    ),
    responses=error_responses(_401, _422),
)
async def logout(
    data: LogoutRequest,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    broker: BrokerDep,
) -> None:
    await service.logout(session, broker, _settings(request), user, data.refresh_token)


@router.get(
    "/me",
    response_model=UserRead,
    summary="The caller",
    responses=error_responses(_401),
)
async def me(user: CurrentUser) -> UserRead:
    return UserRead.model_validate(user)
