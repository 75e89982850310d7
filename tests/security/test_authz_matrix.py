"""The whole app's authorization matrix: every route × every kind of caller.

ONE table, derived from API.md: each row is a route of the app (method and path
template, as `app.routes` has them, the WebSocket and the docs included) with the
status each caller gets — anonymous, outsider (in no company), member, admin and
owner of company A, and the owner of another company B. Bodies are valid, so that
the allowed callers really get their 2xx.

- A route the app serves but the table does not list fails
  `test_every_route_has_a_row` (and so does a row without a route).
- `test_matrix` walks the table with real requests against one arranged world
  (`tests/security/world.py`), rebuilt after any request that changed it.
- `test_other_companies_objects_answer_like_missing_ids`: for every route with a
  `{quiz_id}`, `{attempt_id}`, `{invitation_id}`, `{request_id}` or
  `{notification_id}`, company B's object and the id 999999 get the same status
  and the same `code`, whoever asks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from httpx import AsyncClient

from tests.factories import PASSWORD, Factory
from tests.security.helpers import app_routes, live_server, ws_outcome
from tests.security.world import (
    ADM,
    ANON,
    AUTHENTICATED,
    CALLERS,
    MEM,
    MISSING_ID,
    OTH,
    OUT,
    OWN,
    World,
    build_world,
    quiz_definition,
    xlsx_template,
)

Send = Callable[[World, str], dict[str, Any]]


def expect(anon: int, out: int, mem: int, adm: int, own: int, oth: int) -> dict[str, int]:
    return dict(zip(CALLERS, (anon, out, mem, adm, own, oth), strict=True))


def public(status: int) -> dict[str, int]:
    return dict.fromkeys(CALLERS, status)


def user(status: int) -> dict[str, int]:
    """Any authenticated user; anonymous 401."""
    return expect(401, status, status, status, status, status)


# company A's routes (A is visible: non-members get 403, not 404)
def a_owner(ok: int) -> dict[str, int]:
    return expect(401, 403, 403, 403, ok, 403)


def a_staff(ok: int) -> dict[str, int]:
    return expect(401, 403, 403, ok, ok, 403)


def a_member(ok: int) -> dict[str, int]:
    return expect(401, 403, ok, ok, ok, 403)


# A's quizzes are visible to A's members only: anyone else gets the 404 of a missing quiz
def quiz_staff(ok: int) -> dict[str, int]:
    return expect(401, 404, 403, ok, ok, 404)


def quiz_member(ok: int) -> dict[str, int]:
    return expect(401, 404, ok, ok, ok, 404)


def json_body(build: Callable[[World, str], Any]) -> Send:
    return lambda world, caller: {"json": build(world, caller)}


def _login(world: World, caller: str) -> dict[str, Any]:
    return {"email": world.email(caller), "password": PASSWORD}


def _own_refresh(world: World, caller: str) -> dict[str, Any]:
    return {"refresh_token": world.refresh[MEM if caller == ANON else caller]}


def _import(world: World, caller: str) -> dict[str, Any]:
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return {"files": {"file": ("quizzes.xlsx", xlsx_template(), media)}}


_registered = iter(range(1, 10**6))


@dataclass(frozen=True)
class Row:
    method: str
    path: str
    expected: dict[str, int]
    send: Send | None = None
    # the path's {user_id}: "target" (a plain member of A, not a caller) or a caller
    user: str = "target"
    # False when a 2xx of this row leaves the world as the other rows expect it
    dirty: bool | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def changes_world(self) -> bool:
        if self.dirty is not None:
            return self.dirty
        return self.method not in {"GET", "HEAD", "WS"}

    def url(self, world: World, **override: int) -> str:
        ids = {
            "company_id": world.company_a,
            "user_id": world.user_id(self.user),
            "quiz_id": world.quiz_a,
            "attempt_id": world.attempt_a,
            "invitation_id": world.invitation_a,
            "request_id": world.request_a,
            "notification_id": world.notification_a,
            **override,
        }
        return self.path.format(**ids)


C = "/companies/{company_id}"
Q = "/quizzes/{quiz_id}"

TABLE: list[Row] = [
    # --- documentation and health: public -------------------------------------------
    *(
        Row(method, path, public(200))
        for path in ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
        for method in ("GET", "HEAD")
    ),
    Row("GET", "/", public(200)),
    Row("GET", "/health/db", public(200)),
    Row("GET", "/health/redis", public(200)),
    Row("GET", "/health/all", public(200)),
    # --- auth ----------------------------------------------------------------------------
    Row(
        "POST",
        "/auth/register",
        public(201),
        json_body(
            lambda w, c: {"email": f"new{next(_registered)}@example.com", "password": PASSWORD}
        ),
        dirty=False,
    ),
    Row("POST", "/auth/login", public(200), json_body(_login), dirty=False),
    # anonymous refreshes the member's login (the endpoint needs no access token)
    Row("POST", "/auth/refresh", public(200), json_body(_own_refresh)),
    Row("POST", "/auth/logout", user(204), json_body(_own_refresh)),
    Row("GET", "/auth/me", user(200)),
    # --- users ---------------------------------------------------------------------------
    Row("GET", "/users", user(200)),
    Row("GET", "/users/me", user(200)),
    Row("PATCH", "/users/me", user(200), json_body(lambda w, c: {"first_name": "P"}), dirty=False),
    Row("PUT", "/users/me", user(200), json_body(lambda w, c: {"last_name": "Q"}), dirty=False),
    Row("DELETE", "/users/me", user(204)),
    Row("GET", "/users/{user_id}", user(200), user=MEM),
    # --- companies -----------------------------------------------------------------------
    Row("POST", "/companies", user(201), json_body(lambda w, c: {"name": "New"}), dirty=False),
    Row("GET", "/companies", user(200)),
    Row("GET", C, user(200)),
    Row("PATCH", C, a_owner(200), json_body(lambda w, c: {"name": "Renamed"}), dirty=False),
    Row("DELETE", C, a_owner(204)),
    Row("GET", C + "/members", a_member(200)),
    Row("DELETE", C + "/members/{user_id}", a_staff(204)),
    Row("POST", C + "/leave", expect(401, 403, 204, 204, 409, 403)),
    Row("POST", C + "/owner", a_owner(200), json_body(lambda w, c: {"user_id": w.target_id})),
    Row("GET", C + "/admins", a_member(200)),
    Row("POST", C + "/admins/{user_id}", a_owner(200)),
    Row("DELETE", C + "/admins/{user_id}", a_owner(200), user=ADM),
    # --- invitations (A's pending one is to the outsider) ----------------------------------
    Row(
        "POST",
        C + "/invitations",
        a_staff(201),
        json_body(lambda w, c: {"user_id": w.invitee_id}),
    ),
    Row("GET", C + "/invitations", a_staff(200)),
    Row("DELETE", C + "/invitations/{invitation_id}", a_staff(204)),
    Row("GET", "/users/me/invitations", user(200)),
    Row("POST", "/invitations/{invitation_id}/accept", expect(401, 200, 404, 404, 404, 404)),
    Row("POST", "/invitations/{invitation_id}/decline", expect(401, 204, 404, 404, 404, 404)),
    # --- join requests (A's pending one is the outsider's) ---------------------------------
    # the outsider already asked (409), members are members (409), B's owner may ask
    Row("POST", C + "/requests", expect(401, 409, 409, 409, 409, 201)),
    Row("GET", C + "/requests", a_staff(200)),
    Row("GET", "/users/me/requests", user(200)),
    # the requester sees their own request (403); another company's owner gets a 404
    Row("POST", "/requests/{request_id}/accept", expect(401, 403, 403, 200, 200, 404)),
    Row("POST", "/requests/{request_id}/reject", expect(401, 403, 403, 204, 204, 404)),
    Row("DELETE", "/requests/{request_id}", expect(401, 204, 404, 404, 404, 404)),
    # --- quizzes ---------------------------------------------------------------------------
    Row("POST", C + "/quizzes/import", a_staff(200), _import, dirty=False),
    Row("GET", C + "/quizzes/import/template", a_staff(200)),
    Row("GET", Q + "/export.xlsx", quiz_staff(200)),
    Row(
        "POST", C + "/quizzes", a_staff(201), json_body(lambda w, c: quiz_definition()), dirty=False
    ),
    Row("GET", C + "/quizzes", a_member(200)),
    Row("GET", Q, quiz_member(200)),
    Row("GET", Q + "/admin", quiz_staff(200)),
    Row("PUT", Q, quiz_staff(200), json_body(lambda w, c: quiz_definition("Replaced"))),
    Row("PATCH", Q, quiz_staff(200), json_body(lambda w, c: {"title": "Patched"}), dirty=False),
    Row("DELETE", Q, quiz_staff(204)),
    # --- attempts --------------------------------------------------------------------------
    Row(
        "POST",
        Q + "/attempts",
        quiz_member(201),
        json_body(lambda w, c: w.correct_answers()),
        dirty=False,
    ),
    # the member's own attempt: its user and A's staff read it; anyone else gets 404
    Row("GET", "/attempts/{attempt_id}", expect(401, 404, 200, 200, 200, 404)),
    Row("GET", "/users/me/attempts", user(200)),
    # --- analytics and exports -------------------------------------------------------------
    Row("GET", "/users/me/analytics", user(200)),
    Row("GET", "/users/me/analytics/timeline", user(200)),
    Row("GET", C + "/analytics", a_staff(200)),
    Row("GET", C + "/analytics/timeline", a_staff(200)),
    Row("GET", C + "/analytics/users/{user_id}", a_staff(200), user=MEM),
    Row("GET", C + "/analytics/last-attempts", a_staff(200)),
    Row("GET", C + "/leaderboard", a_member(200)),
    Row("GET", Q + "/analytics", quiz_staff(200)),
    Row("GET", "/users/me/export", user(200)),
    Row("GET", C + "/export", a_staff(200)),
    # --- notifications (the `{notification_id}` is the member's) ---------------------------
    Row("GET", "/users/me/notifications", user(200)),
    Row("POST", "/notifications/{notification_id}/read", expect(401, 404, 200, 404, 404, 404)),
    Row("POST", "/users/me/notifications/read-all", user(200), dirty=False),
    # WebSocket: 101 = the socket opens and delivers the caller's own notification;
    # 4401 = the handshake is accepted, then closed for want of a valid token
    Row("WS", "/ws/notifications", expect(4401, 101, 101, 101, 101, 101)),
]

ID_PARAMS = ("quiz_id", "attempt_id", "invitation_id", "request_id", "notification_id")


def test_every_route_has_a_row(app: FastAPI) -> None:
    table = [row.key for row in TABLE]
    assert len(table) == len(set(table)), "a route is listed twice"
    routes = app_routes(app)
    missing = sorted(routes - set(table))
    assert not missing, f"routes without a row in the authorization matrix: {missing}"
    stale = sorted(set(table) - routes)
    assert not stale, f"rows for routes the app does not serve: {stale}"


async def _call(
    client: AsyncClient, ws_base: str, world: World, row: Row, caller: str, url: str
) -> tuple[int, Any]:
    """(status, body) — for the WebSocket: 101 and the message, or the close code."""
    if row.method == "WS":
        query = "?since=0" + (f"&token={world.access[caller]}" if caller != ANON else "")
        kind, value = await ws_outcome(ws_base + url + query)
        if kind == "message":
            return 101, value
        return value, None
    kwargs = row.send(world, caller) if row.send else {}
    response = await client.request(row.method, url, headers=world.headers(caller), **kwargs)
    body: Any = None
    if response.content and response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
    return response.status_code, body


def _check_body(row: Row, caller: str, world: World, status: int, body: Any) -> str | None:
    """What the body must show besides the status (None when fine)."""
    if row.method == "WS":
        if status != 101:
            return None  # a close code, no body
        data = body.get("data", {}) if body["type"] == "notification" else {}
        if body["type"] != "notification" or data.get("title") != f"for {caller}":
            return f"the socket did not deliver the caller's own notification: {body}"
        return None
    if status >= 400 and row.method != "HEAD":
        if not isinstance(body, dict) or set(body) - {"detail", "code", "errors"}:
            return f"error body is not {{detail, code}}: {body}"
        if "code" not in body or "detail" not in body:
            return f"error body is not {{detail, code}}: {body}"
    return None


async def test_matrix(client: AsyncClient, factory: Factory, app: FastAPI) -> None:
    world = await build_world(factory)
    mismatches: list[str] = []
    requests = 0
    async with live_server(app) as ws_base:
        for row in TABLE:
            for caller in CALLERS:
                status, body = await _call(client, ws_base, world, row, caller, row.url(world))
                requests += 1
                expected = row.expected[caller]
                if status != expected:
                    mismatches.append(
                        f"{row.method} {row.path} as {caller}: {status} != {expected} "
                        f"{str(body)[:160]}"
                    )
                elif problem := _check_body(row, caller, world, status, body):
                    mismatches.append(f"{row.method} {row.path} as {caller}: {problem}")
                if 200 <= status < 300 and row.changes_world:
                    world = await build_world(factory)
    assert not mismatches, "\n".join(mismatches)
    assert requests == len(TABLE) * len(CALLERS)


async def test_other_companies_objects_answer_like_missing_ids(
    client: AsyncClient, factory: Factory, app: FastAPI
) -> None:
    """B's quiz, attempt, invitation, request and notification look missing to A's people."""
    world = await build_world(factory)
    foreign = {
        "quiz_id": world.quiz_b,
        "attempt_id": world.attempt_b,
        "invitation_id": world.invitation_b,
        "request_id": world.request_b,
        "notification_id": world.notification_b,
    }
    rows = {row.key: row for row in TABLE}
    checked: set[tuple[str, str]] = set()
    differences: list[str] = []
    for method, path in sorted(app_routes(app)):
        params = [name for name in ID_PARAMS if "{" + name + "}" in path]
        if not params:
            continue
        row = rows[(method, path)]
        checked.add((method, path))
        for caller in AUTHENTICATED:
            if caller == OTH:
                continue  # B's owner owns these objects
            answers = []
            for value in ("theirs", "missing"):
                override = {
                    name: foreign[name] if value == "theirs" else MISSING_ID for name in params
                }
                kwargs = row.send(world, caller) if row.send else {}
                response = await client.request(
                    method, row.url(world, **override), headers=world.headers(caller), **kwargs
                )
                body = response.json()
                answers.append((response.status_code, body.get("code")))
            theirs, missing = answers
            if theirs != missing or theirs[0] not in (403, 404):
                differences.append(
                    f"{method} {path} as {caller}: B's object {theirs}, id {MISSING_ID} {missing}"
                )
    assert not differences, "\n".join(differences)
    # every kind of object id is exercised, on every route that takes one
    assert {name for _, path in checked for name in ID_PARAMS if "{" + name + "}" in path} == set(
        ID_PARAMS
    )
    assert len(checked) == 16


def test_roles_used_in_the_table_are_the_callers() -> None:
    for row in TABLE:
        assert set(row.expected) == set(CALLERS), row.key
    assert {OUT, MEM, ADM, OWN, OTH} == set(AUTHENTICATED)
