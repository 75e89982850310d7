"""`/ws/notifications`: every new notification of the user, live, on any instance.

Protocol (JSON text frames `{"type": ..., "data": ...}`):

- auth: `?token=<access token>` or the subprotocol pair `["bearer", "<token>"]` (the
  server then answers with subprotocol `bearer`). A bad or missing token: the
  handshake is accepted and the socket closed with **4401**.
- `Origin`: when `BACKEND_CORS_ORIGINS` is set, a browser `Origin` outside it is
  closed with **4403** (clients that send no `Origin`, i.e. not browsers, pass).
- `?since=<id>` replays the user's notifications with id > since (oldest first, at
  most 1,000 — then a `replay_truncated` message with `{"last_id"}` says to page the
  REST list or reconnect with that id), then continues live; none is sent twice.
  A `since` that is not an integer in 0..2^31-1 closes with **1008**.
- server → client: `notification` (the REST object), `read` (`{"ids": [...]}`,
  reads done on any device), `ping` (every 25 s; no answer needed, `{"type":"pong"}`
  is welcome). Client messages are otherwise ignored; one over 4 KiB closes with
  **1009**, more than 60 a minute with **1008**.
- the socket closes with **4401** when its login is revoked (logout, refresh-token
  reuse, password change, account deletion) and with **1001** when the server
  shuts down; **1013** when the database cannot be reached to authenticate.

Order without gaps or duplicates: check the token's signature (our own tokens name
their user without the database), subscribe to the user's topic (the broker
buffers from here on), then in one short session check the login (not revoked,
user still there) and read the replay, complete the handshake, send the replay and
forward live messages, skipping the ids just replayed. A revocation published
after the subscription is in the buffer; one committed before it fails the check.
(Auth0 tokens: the user comes from the database first, then subscribe, then a
second short session re-checks the user and reads the replay.) No database
session is held for the socket's lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.websockets import WebSocket, WebSocketDisconnect

from qoach.auth.dependencies import AuthContext, authenticate_token
from qoach.auth.tokens import InvalidToken, decode_token, unverified_algorithm
from qoach.broker import Broker, Subscription
from qoach.config import Settings
from qoach.db.session import is_connection_error
from qoach.errors import Unauthorized
from qoach.notifications import repository
from qoach.notifications.events import envelope, notification_data, user_topic

logger = logging.getLogger("qoach.notifications.ws")

# Overridable for tests: set `app.state.ws_heartbeat_seconds` or this attribute.
HEARTBEAT_SECONDS = 25.0
SEND_TIMEOUT_SECONDS = 10.0
MAX_CLIENT_MESSAGE_BYTES = 4096
MAX_CLIENT_MESSAGES_PER_MINUTE = 60
MAX_SINCE = 2_147_483_647

CLOSE_GOING_AWAY = 1001
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL = 1011
CLOSE_TRY_AGAIN = 1013
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN_ORIGIN = 4403

PING = json.dumps({"type": "ping"}, separators=(",", ":"))
# how `events.envelope` starts a notification message (checked by the tests)
_NOTIFICATION_PREFIX = '{"type":"notification",'


Send = Callable[[str], Awaitable[None]]


class _Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _credentials(websocket: WebSocket) -> tuple[str | None, str | None]:
    """(token, subprotocol to answer with)."""
    offered = [p.strip() for p in websocket.scope.get("subprotocols") or []]
    lowered = [p.lower() for p in offered]
    if "bearer" in lowered:
        index = lowered.index("bearer")
        token = offered[index + 1] if index + 1 < len(offered) else None
        return token, offered[index]
    return websocket.query_params.get("token"), None


def _origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    allowed = settings.backend_cors_origins
    if not allowed or "*" in allowed:
        return True
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser: Origin protects browsers only
        return True
    return origin.rstrip("/").lower() in {o.rstrip("/").lower() for o in allowed}


def _since(websocket: WebSocket) -> int | None:
    raw = websocket.query_params.get("since")
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or int(raw) > MAX_SINCE:
        raise _Closed(CLOSE_POLICY, "since must be an integer notification id")
    return int(raw)


def _heartbeat_seconds(websocket: WebSocket) -> float:
    value = getattr(websocket.app.state, "ws_heartbeat_seconds", None)
    return float(value) if value else HEARTBEAT_SECONDS


def _own_token_user(settings: Settings, token: str) -> int | None:
    """The user of one of our own access tokens (signature and expiry checked, no database);
    None for an Auth0 token, whose user only the database knows."""
    if settings.auth0_enabled and unverified_algorithm(token) == "RS256":
        return None
    if len(token) > 8192:
        raise _Closed(CLOSE_UNAUTHORIZED, "invalid or expired token")
    try:
        return decode_token(settings, token, "access").user_id
    except InvalidToken as exc:
        raise _Closed(CLOSE_UNAUTHORIZED, "invalid or expired token") from exc


@contextlib.asynccontextmanager
async def _database_step() -> AsyncIterator[None]:
    try:
        yield
    except Unauthorized as exc:
        raise _Closed(CLOSE_UNAUTHORIZED, "invalid or expired token") from exc
    except Exception as exc:
        if is_connection_error(exc):
            logger.warning("notification socket: database unavailable: %s", exc)
            raise _Closed(CLOSE_TRY_AGAIN, "database unavailable") from exc
        raise


async def _read_replay(
    session: AsyncSession, user_id: int, since: int | None
) -> list[tuple[int, str]]:
    if since is None:
        return []
    rows = await repository.replay_after(session, user_id, since)
    return [(row.id, envelope("notification", notification_data(row))) for row in rows]


async def _open(
    websocket: WebSocket, settings: Settings, broker: Broker, token: str | None, since: int | None
) -> tuple[AuthContext, Subscription, list[tuple[int, str]]]:
    """Authenticate, subscribe, then read the replay: in that order nothing is missed,
    and a login revoked before the subscription existed is still refused."""
    if not token:
        raise _Closed(CLOSE_UNAUTHORIZED, "not authenticated")
    app = websocket.app
    maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
    user_id = _own_token_user(settings, token)
    subscription: Subscription | None = None
    try:
        if user_id is not None:
            # our own token names its user: subscribe first, then check the login
            # (not revoked, user still there) and read the replay in one short session
            subscription = await broker.subscribe(user_topic(user_id))
            async with _database_step(), maker() as session:
                auth = await authenticate_token(app, settings, session, token)
                replay = await _read_replay(session, auth.user.id, since)
                await session.commit()  # (read only; keeps the loaded user usable)
            if auth.user.id != user_id:
                raise _Closed(CLOSE_UNAUTHORIZED, "invalid or expired token")
        else:
            # an Auth0 token: find (or create) its user, subscribe, then re-check
            async with _database_step(), maker() as session:
                auth = await authenticate_token(app, settings, session, token)
                await session.commit()
            subscription = await broker.subscribe(user_topic(auth.user.id))
            async with _database_step(), maker() as session:
                active = await repository.login_is_active(session, auth.user.id, auth.session_id)
                replay = await _read_replay(session, auth.user.id, since) if active else []
                await session.commit()
            if not active:
                raise _Closed(CLOSE_UNAUTHORIZED, "session revoked")
    except BaseException:
        if subscription is not None:
            await subscription.close()
        raise
    return auth, subscription, replay


async def _close(websocket: WebSocket, code: int, reason: str = "") -> None:
    with contextlib.suppress(Exception):
        await websocket.close(code=code, reason=reason[:120])


async def serve(websocket: WebSocket) -> None:
    settings: Settings = websocket.app.state.settings
    broker: Broker = websocket.app.state.broker
    token, subprotocol = _credentials(websocket)
    subscription: Subscription | None = None
    accepted = False
    try:
        if not _origin_allowed(websocket, settings):
            raise _Closed(CLOSE_FORBIDDEN_ORIGIN, "origin not allowed")
        since = _since(websocket)
        # subscribed before the handshake completes: every later notification arrives
        auth, subscription, replay = await _open(websocket, settings, broker, token, since)
        await websocket.accept(subprotocol=subprotocol)
        accepted = True
        code, reason = await _stream(websocket, subscription, auth, replay)
    except _Closed as closed:
        code, reason = closed.code, closed.reason
    except (WebSocketDisconnect, OSError, TimeoutError):  # gone, or not reading the replay
        code, reason = CLOSE_GOING_AWAY, "connection lost"
    except Exception:
        logger.exception("notification socket failed")
        code, reason = CLOSE_INTERNAL, "internal error"
    finally:
        if subscription is not None:
            await subscription.close()
    if not accepted:
        with contextlib.suppress(Exception):
            await websocket.accept(subprotocol=subprotocol)
    await _close(websocket, code, reason)


async def _stream(
    websocket: WebSocket,
    subscription: Subscription,
    auth: AuthContext,
    replay: list[tuple[int, str]],
) -> tuple[int, str]:
    lock = asyncio.Lock()

    async def send(text: str) -> None:
        async with lock, asyncio.timeout(SEND_TIMEOUT_SECONDS):
            await websocket.send_text(text)

    for _, message in replay:
        await send(message)
    if len(replay) >= repository.REPLAY_LIMIT:
        await send(envelope("replay_truncated", {"last_id": replay[-1][0]}))
    replayed = {notification_id for notification_id, _ in replay}
    tasks = [
        asyncio.create_task(_read_client(websocket), name="ws-reader"),
        asyncio.create_task(_heartbeat(send, _heartbeat_seconds(websocket)), name="ws-ping"),
        asyncio.create_task(_forward(send, subscription, auth, replayed), name="ws-forward"),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finished = next(iter(done))
    exc = finished.exception()
    if isinstance(exc, _Closed):
        return exc.code, exc.reason
    if exc is not None:  # a send failed or timed out: the peer is gone or not reading
        logger.debug("notification socket ends: %r", exc)
        return CLOSE_GOING_AWAY, "connection lost"
    result: tuple[int, str] = finished.result()
    return result


async def _read_client(websocket: WebSocket) -> tuple[int, str]:
    """Drain what the client sends, so a disconnect is noticed at once."""
    window_start, count = time.monotonic(), 0
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return CLOSE_GOING_AWAY, "client gone"
        payload = message.get("text") or message.get("bytes") or ""
        if len(payload) > MAX_CLIENT_MESSAGE_BYTES:
            raise _Closed(CLOSE_TOO_BIG, "message too big")
        now = time.monotonic()
        if now - window_start > 60:
            window_start, count = now, 0
        count += 1
        if count > MAX_CLIENT_MESSAGES_PER_MINUTE:
            raise _Closed(CLOSE_POLICY, "too many messages")


async def _heartbeat(send: Send, interval: float) -> tuple[int, str]:
    while True:
        await asyncio.sleep(interval)
        await send(PING)  # raises when the peer is gone: the socket ends


def _revokes(data: Any, auth: AuthContext) -> bool:
    session_ids = data.get("session_ids") if isinstance(data, dict) else None
    if session_ids is None:
        return True
    return auth.session_id is not None and auth.session_id in session_ids


async def _forward(
    send: Send, subscription: Subscription, auth: AuthContext, replayed: set[int]
) -> tuple[int, str]:
    async for raw in subscription:
        if not replayed and raw.startswith(_NOTIFICATION_PREFIX):
            await send(raw)  # the common case, relayed as published without parsing it
            continue
        try:
            message = json.loads(raw)
            kind = message["type"]
            data = message.get("data")
        except (ValueError, TypeError, KeyError):
            logger.warning("ignoring a malformed broker message")
            continue
        if kind == "notification":
            if isinstance(data, dict) and data.get("id") in replayed:
                continue
            await send(raw)
        elif kind == "read":
            await send(raw)
        elif kind == "session_revoked" and _revokes(data, auth):
            return CLOSE_UNAUTHORIZED, "session revoked"
    return CLOSE_GOING_AWAY, "server shutting down"
