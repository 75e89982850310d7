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

Nothing lost while the socket stays open, even across a broker (Redis) outage: the
relay keeps a cursor (the newest notification id sent, or the user's newest when
the socket opened). When the broker says delivery stopped (`OUTAGE`) the socket
polls the database every few seconds (a per-process budget bounds the polls),
and when it says delivery is back (`RESYNC`) — or a poll runs — it sends what was
created after the cursor, re-checking the login on the way (a logout during the
outage still closes the socket). Ids sent from the database are skipped if they
later arrive live: none is sent twice.

Order without gaps or duplicates: check the token's signature (our own tokens name
their user without the database), subscribe to the user's topic (the broker
buffers from here on), then in one short session check the login (not revoked,
user still there) and read the replay, complete the handshake, send the replay and
forward live messages, skipping the ids just replayed and any at or below `since`
(without `since`: at or below the user's newest notification when the socket
opened). A revocation published after the subscription is in the buffer; one
committed before it fails the check.
(Auth0 tokens: the user comes from the database first, then subscribe, then a
second short session re-checks the user and reads the replay.) No database
session is held for the socket's lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.websockets import WebSocket, WebSocketDisconnect

from qoach.auth.dependencies import AuthContext, authenticate_token
from qoach.auth.tokens import InvalidToken, decode_token, unverified_algorithm
from qoach.broker import Broker, Subscription
from qoach.broker.base import OUTAGE, RESYNC
from qoach.config import Settings
from qoach.db.session import is_connection_error
from qoach.errors import Unauthorized
from qoach.notifications import repository
from qoach.notifications.events import (
    NOTIFICATION_HEAD,
    envelope,
    notification_data,
    user_topic,
)

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

# While the broker is down, each socket polls the database every POLL_SECONDS, but
# this process makes at most POLLS_PER_SECOND polls (and POLLS_AT_ONCE at a time):
# with many sockets the interval grows instead of the load.
POLL_SECONDS = 5.0
POLLS_PER_SECOND = 50.0
POLLS_AT_ONCE = 4
# ids a socket remembers having sent, to skip a second copy (oldest forgotten first)
MAX_REMEMBERED = 2_000

PING = json.dumps({"type": "ping"}, separators=(",", ":"))
_HEAD_LENGTH = len(NOTIFICATION_HEAD)


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


Replay = tuple[list[tuple[int, str]], int]


async def _read_replay(session: AsyncSession, user_id: int, since: int | None) -> Replay:
    """(the messages to replay, the cursor: the newest id they or `since` cover — or,
    without `since`, the user's newest notification, where the live stream starts)."""
    if since is None:
        return [], await repository.latest_id(session, user_id)
    rows = await repository.replay_after(session, user_id, since)
    replay = [(row.id, envelope("notification", notification_data(row))) for row in rows]
    return replay, replay[-1][0] if replay else since


async def _open(
    websocket: WebSocket, settings: Settings, broker: Broker, token: str | None, since: int | None
) -> tuple[AuthContext, Subscription, Replay]:
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
                replay = await _read_replay(session, auth.user.id, since) if active else ([], 0)
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
        # live copies of what the client already has (≤ `since`) or of what existed
        # before it opened without `since` are not part of its stream
        floor = since if since is not None else replay[1]
        code, reason = await _stream(websocket, subscription, auth, replay, floor)
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
    websocket: WebSocket, subscription: Subscription, auth: AuthContext, replay: Replay, floor: int
) -> tuple[int, str]:
    lock = asyncio.Lock()

    async def send(text: str) -> None:
        """Bounded: a peer that stops reading fails it (the timeout covers the lock)."""
        async with asyncio.timeout(SEND_TIMEOUT_SECONDS), lock:
            await websocket.send_text(text)

    async def send_live(text: str) -> None:
        """The fan-out's hot path, without a timer per message: if the peer stops
        reading, this waits, and the heartbeat's bounded send ends the socket."""
        async with lock:
            await websocket.send_text(text)

    messages, cursor = replay
    for _, message in messages:
        await send(message)
    if len(messages) >= repository.REPLAY_LIMIT:
        await send(envelope("replay_truncated", {"last_id": messages[-1][0]}))
    relay = _Relay(
        websocket.app.state, auth, send, send_live, cursor, [i for i, _ in messages], floor
    )
    tasks = [
        asyncio.create_task(_read_client(websocket), name="ws-reader"),
        asyncio.create_task(_heartbeat(send, _heartbeat_seconds(websocket)), name="ws-ping"),
        asyncio.create_task(_forward(subscription, relay), name="ws-forward"),
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


class _PollBudget:
    """This process's database polls for sockets whose broker feed is down."""

    def __init__(self) -> None:
        self.polling = 0  # sockets in polling mode
        self.gate = asyncio.Semaphore(POLLS_AT_ONCE)

    def interval(self) -> float:
        base = max(POLL_SECONDS, self.polling / POLLS_PER_SECOND)
        return base * random.uniform(0.8, 1.2)  # spread, not security


def _poll_budget(state: Any) -> _PollBudget:
    budget: _PollBudget | None = getattr(state, "ws_poll_budget", None)
    if budget is None:
        budget = _PollBudget()
        state.ws_poll_budget = budget
    return budget


class _Relay:
    """What one socket was sent: `cursor` (the newest id sent or covered) and the ids
    sent lately (the last MAX_REMEMBERED), so that none is sent twice — a live copy
    of one sent from the database, or a message the broker delivered twice."""

    def __init__(
        self,
        state: Any,
        auth: AuthContext,
        send: Send,
        send_live: Send,
        cursor: int,
        replayed: list[int],
        floor: int,
    ) -> None:
        self.maker: async_sessionmaker[AsyncSession] = state.sessionmaker
        self.budget = _poll_budget(state)
        self.auth = auth
        self.send = send
        self.send_live = send_live
        self.cursor = cursor
        self.floor = floor  # live ids at or below it are not this socket's to send
        self.sent: dict[int, None] = dict.fromkeys(replayed)

    def _remember(self, notification_id: int) -> None:
        sent = self.sent
        sent[notification_id] = None
        if len(sent) > MAX_REMEMBERED:
            del sent[next(iter(sent))]
        if notification_id > self.cursor:
            self.cursor = notification_id

    async def live(self, notification_id: int, raw: str) -> None:
        if notification_id <= self.floor or notification_id in self.sent:
            return
        await self.send_live(raw)
        self._remember(notification_id)

    async def catch_up(self) -> bool:
        """Send what the database holds after the cursor (login re-checked first);
        False when the database could not be read (try again later)."""
        user_id = self.auth.user.id
        while True:
            try:
                async with self.budget.gate, self.maker() as session:
                    active = await repository.login_is_active(
                        session, user_id, self.auth.session_id
                    )
                    rows = await repository.replay_after(session, user_id, self.cursor)
                    messages = [
                        (r.id, envelope("notification", notification_data(r))) for r in rows
                    ]
                    await session.commit()
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                logger.warning("notification socket: cannot catch up now: %s", exc)
                return False
            if not active:
                raise _Closed(CLOSE_UNAUTHORIZED, "session revoked")
            for notification_id, message in messages:
                if notification_id not in self.sent:
                    await self.send(message)
                    self._remember(notification_id)
            if len(messages) < repository.REPLAY_LIMIT:
                return True


async def _forward(subscription: Subscription, relay: _Relay) -> tuple[int, str]:
    """Relay the broker's messages; poll the database while the broker is down."""
    messages = aiter(subscription)
    polling = False
    try:
        while True:
            if polling:
                try:
                    async with asyncio.timeout(relay.budget.interval()):
                        raw = await anext(messages)
                except TimeoutError:
                    await relay.catch_up()
                    continue
            else:
                raw = await anext(messages)
            if raw.startswith(NOTIFICATION_HEAD):
                # the common case: relayed as published, reading only the id
                try:
                    notification_id = int(raw[_HEAD_LENGTH : raw.index(",", _HEAD_LENGTH)])
                except ValueError:
                    pass
                else:
                    await relay.live(notification_id, raw)
                    continue
            if raw == OUTAGE:
                if not polling:
                    polling = True
                    relay.budget.polling += 1
                continue
            if raw == RESYNC:
                caught_up = await relay.catch_up()
                if polling and caught_up:
                    polling = False
                    relay.budget.polling -= 1
                elif not polling and not caught_up:  # the database failed: poll until it works
                    polling = True
                    relay.budget.polling += 1
                continue
            await _other(raw, relay)
    except StopAsyncIteration:
        return CLOSE_GOING_AWAY, "server shutting down"
    finally:
        if polling:
            relay.budget.polling -= 1


async def _other(raw: str, relay: _Relay) -> None:
    try:
        message = json.loads(raw)
        kind = message["type"]
        data = message.get("data")
    except (ValueError, TypeError, KeyError):
        logger.warning("ignoring a malformed broker message")
        return
    if kind == "notification":
        if isinstance(data, dict) and isinstance(data.get("id"), int):
            await relay.live(data["id"], raw)
        else:
            logger.warning("ignoring a notification without an id")
    elif kind == "read":
        await relay.send_live(raw)
    elif kind == "session_revoked" and _revokes(data, relay.auth):
        raise _Closed(CLOSE_UNAUTHORIZED, "session revoked")
