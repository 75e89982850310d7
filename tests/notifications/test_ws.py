"""The WebSocket stream against a real uvicorn server and the `websockets` client."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.broker.base import OUTAGE, RESYNC
from qoach.config import Settings
from qoach.db.session import run_after_commit
from qoach.db.types import utcnow
from qoach.models import AuthSession, User
from qoach.notifications import ws
from qoach.notifications.events import publish_session_revoked, user_topic
from tests.factories import Factory
from tests.notifications.conftest import LiveServer, open_socket, wait_until, ws_url
from tests.notifications.helpers import make_notifications


async def _token(factory: Factory, user: User) -> str:
    access, _, _ = await factory.tokens(user)
    return access


async def test_new_notification_is_delivered_with_query_token(
    live_server: LiveServer, client: AsyncClient, factory: Factory, db: AsyncSession, app: FastAPI
) -> None:
    alice, bob = await factory.user(), await factory.user()
    token = await _token(factory, alice)
    async with open_socket(ws_url(live_server.ws_url, token)) as sock:
        await make_notifications(db, app, bob)  # someone else's: never seen here
        (note,) = await make_notifications(db, app, alice)
        message = await sock.next()
        assert message["type"] == "notification"
        rest = (
            await client.get("/users/me/notifications", headers=await factory.headers(alice))
        ).json()["items"][0]
        assert message["data"] == rest
        assert message["data"]["id"] == note.id
        await sock.nothing()


async def test_bearer_subprotocol(
    live_server: LiveServer, client: AsyncClient, factory: Factory, db: AsyncSession, app: FastAPI
) -> None:
    alice = await factory.user()
    token = await _token(factory, alice)
    async with open_socket(live_server.ws_url, subprotocols=["bearer", token]) as sock:
        assert sock.conn.subprotocol == "bearer"
        (note,) = await make_notifications(db, app, alice)
        assert (await sock.next())["data"]["id"] == note.id


@pytest.mark.parametrize("style", ["query", "subprotocol"])
async def test_bad_missing_or_revoked_token_closes_4401(
    live_server: LiveServer, client: AsyncClient, factory: Factory, db: AsyncSession, style: str
) -> None:
    alice = await factory.user()
    access, _, login = await factory.tokens(alice)
    await db.execute(
        update(AuthSession).where(AuthSession.id == login.id).values(revoked_at=utcnow())
    )
    await db.commit()
    for token in ("not-a-token", access + "x", access, None):
        if style == "query":
            url, kwargs = ws_url(live_server.ws_url, token), {}
        else:
            offered = ["bearer"] + ([token] if token else [])
            url, kwargs = live_server.ws_url, {"subprotocols": offered}
        async with open_socket(url, **kwargs) as sock:
            assert await sock.closed_with() == 4401, token


async def test_replay_since_then_live_without_duplicates(
    live_server: LiveServer, client: AsyncClient, factory: Factory, db: AsyncSession, app: FastAPI
) -> None:
    alice = await factory.user()
    token = await _token(factory, alice)
    first, second, third = await make_notifications(db, app, alice, 3)
    async with open_socket(ws_url(live_server.ws_url, token, since=first.id)) as sock:
        replayed = await sock.notifications(2)
        assert [n["id"] for n in replayed] == [second.id, third.id]
        (fourth,) = await make_notifications(db, app, alice)
        assert (await sock.next())["data"]["id"] == fourth.id
        await sock.nothing()

    async with open_socket(ws_url(live_server.ws_url, token, since=fourth.id)) as sock:
        await sock.nothing()  # nothing newer: no replay


async def test_a_notification_both_replayed_and_published_is_sent_once(
    live_server: LiveServer, client: AsyncClient, factory: Factory, db: AsyncSession, app: FastAPI
) -> None:
    """Committed before the replay query, published after it: replayed, not repeated."""
    alice = await factory.user()
    token = await _token(factory, alice)
    (late,) = await make_notifications(db, app, alice, publish=False)
    async with open_socket(ws_url(live_server.ws_url, token, since=0)) as sock:
        assert [n["id"] for n in await sock.notifications(1)] == [late.id]
        await run_after_commit(db)  # now its publish reaches the socket's subscription
        (after,) = await make_notifications(db, app, alice)
        assert (await sock.next())["data"]["id"] == after.id  # the duplicate was skipped
        await sock.nothing()


async def test_no_gap_and_no_duplicate_while_notifications_arrive_during_replay(
    live_server: LiveServer, client: AsyncClient, factory: Factory, app: FastAPI
) -> None:
    alice = await factory.user()
    token = await _token(factory, alice)
    created: list[int] = []

    async def create(count: int) -> None:
        async with app.state.sessionmaker() as session:
            for _ in range(count):
                rows = await make_notifications(session, app, alice)
                created.extend(row.id for row in rows)
                await asyncio.sleep(0)

    await create(150)
    writer = asyncio.create_task(create(60))  # keeps writing while the socket replays
    async with open_socket(ws_url(live_server.ws_url, token, since=0)) as sock:
        await writer
        received = [n["id"] for n in await sock.notifications(len(created), within=20)]
        await sock.nothing()
    assert len(received) == len(set(received)), "a notification was delivered twice"
    assert set(received) == set(created), "a notification was missed"


async def test_invalid_since_closes_1008(
    live_server: LiveServer, client: AsyncClient, factory: Factory
) -> None:
    token = await _token(factory, await factory.user())
    for since in ("abc", "-1", "99999999999", "²", "1" * 5000):
        async with open_socket(ws_url(live_server.ws_url, token, since=since)) as sock:
            assert await sock.closed_with() == 1008, since


async def test_reads_elsewhere_reach_every_device(
    live_server: LiveServer, client: AsyncClient, factory: Factory, db: AsyncSession, app: FastAPI
) -> None:
    alice = await factory.user()
    rows = await make_notifications(db, app, alice, 3)
    headers = await factory.headers(alice)  # "another device"
    token = await _token(factory, alice)
    async with open_socket(ws_url(live_server.ws_url, token)) as sock:
        assert (await client.post(f"/notifications/{rows[0].id}/read", headers=headers)).is_success
        assert await sock.next() == {"type": "read", "data": {"ids": [rows[0].id]}}
        # already read: no change, no message
        await client.post(f"/notifications/{rows[0].id}/read", headers=headers)
        await sock.nothing()
        assert (await client.post("/users/me/notifications/read-all", headers=headers)).json() == {
            "updated": 2
        }
        assert await sock.next() == {"type": "read", "data": {"ids": [rows[1].id, rows[2].id]}}


async def test_session_revocation_closes_that_logins_sockets(
    live_server: LiveServer, client: AsyncClient, factory: Factory, db: AsyncSession, app: FastAPI
) -> None:
    alice, bob = await factory.user(), await factory.user()
    token_1, _, login_1 = await factory.tokens(alice)
    token_2, _, _ = await factory.tokens(alice)
    bob_token = await _token(factory, bob)
    broker = app.state.broker
    async with (
        open_socket(ws_url(live_server.ws_url, token_1)) as first,
        open_socket(ws_url(live_server.ws_url, token_2)) as second,
        open_socket(ws_url(live_server.ws_url, bob_token)) as bobs,
    ):
        await publish_session_revoked(broker, alice.id, [])  # nothing revoked
        await publish_session_revoked(broker, alice.id, [login_1.id])
        assert await first.closed_with() == 4401
        (note,) = await make_notifications(db, app, alice)
        assert (await second.next())["data"]["id"] == note.id

        await publish_session_revoked(broker, alice.id, None)  # every login (account deleted)
        assert await second.closed_with() == 4401
        (bob_note,) = await make_notifications(db, app, bob)
        assert (await bobs.next())["data"]["id"] == bob_note.id


async def test_a_revocation_published_while_the_socket_opens_is_not_lost(
    live_server: LiveServer,
    client: AsyncClient,
    factory: Factory,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Logout lands after the token check, before the handshake: the socket still closes."""
    alice = await factory.user()
    token, _, login = await factory.tokens(alice)
    original = ws._read_replay

    async def replay_then_logout(*args, **kwargs):
        replay = await original(*args, **kwargs)
        await publish_session_revoked(app.state.broker, alice.id, [login.id])
        return replay

    monkeypatch.setattr(ws, "_read_replay", replay_then_logout)
    async with open_socket(ws_url(live_server.ws_url, token, since=0)) as sock:
        assert await sock.closed_with() == 4401


async def test_heartbeat_and_client_messages(
    live_server: LiveServer,
    client: AsyncClient,
    factory: Factory,
    db: AsyncSession,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app.state, "ws_heartbeat_seconds", 0.1, raising=False)
    alice = await factory.user()
    token = await _token(factory, alice)
    async with open_socket(ws_url(live_server.ws_url, token)) as sock:
        async with asyncio.timeout(2):
            assert json.loads(await sock.conn.recv()) == {"type": "ping"}
        await sock.conn.send(json.dumps({"type": "pong"}))
        (note,) = await make_notifications(db, app, alice)
        assert (await sock.next())["data"]["id"] == note.id  # still open

        await sock.conn.send("x" * (ws.MAX_CLIENT_MESSAGE_BYTES + 1))
        assert await sock.closed_with() == 1009


async def test_disconnect_is_noticed_and_the_subscription_released(
    live_server: LiveServer, client: AsyncClient, factory: Factory, app: FastAPI
) -> None:
    alice = await factory.user()
    token = await _token(factory, alice)
    subscribers = app.state.broker._subscribers
    async with open_socket(ws_url(live_server.ws_url, token)):
        assert user_topic(alice.id) in subscribers
    await wait_until(lambda: user_topic(alice.id) not in subscribers)


async def test_origin_is_checked_when_cors_origins_are_set(
    live_server: LiveServer,
    client: AsyncClient,
    factory: Factory,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = await _token(factory, await factory.user())
    url = ws_url(live_server.ws_url, token)
    monkeypatch.setattr(settings, "backend_cors_origins", ["https://app.example.com"])
    async with open_socket(url, origin="https://evil.example.com") as sock:
        assert await sock.closed_with() == 4403
    for origin in ("https://app.example.com", None):
        async with open_socket(url, origin=origin) as sock:
            await sock.nothing(0.2)
            assert sock.conn.close_code is None


async def test_logout_and_account_deletion_close_sockets(
    live_server: LiveServer, client: AsyncClient, factory: Factory
) -> None:
    alice = await factory.user()
    access_1, refresh_1, _ = await factory.tokens(alice)
    access_2, _, _ = await factory.tokens(alice)
    async with (
        open_socket(ws_url(live_server.ws_url, access_1)) as first,
        open_socket(ws_url(live_server.ws_url, access_2)) as second,
    ):
        logout = await client.post(
            "/auth/logout",
            json={"refresh_token": refresh_1},
            headers={"Authorization": f"Bearer {access_1}"},
        )
        assert logout.status_code == 204
        assert await first.closed_with() == 4401
        await second.nothing(0.2)

        deleted = await client.delete("/users/me", headers={"Authorization": f"Bearer {access_2}"})
        assert deleted.status_code == 204
        assert await second.closed_with() == 4401


async def test_a_chatty_client_is_closed(
    live_server: LiveServer, client: AsyncClient, factory: Factory
) -> None:
    token = await _token(factory, await factory.user())
    async with open_socket(ws_url(live_server.ws_url, token)) as sock:
        for _ in range(ws.MAX_CLIENT_MESSAGES_PER_MINUTE):
            await sock.conn.send('{"type":"pong"}')
        await sock.nothing(0.2)  # up to the limit is fine
        await sock.conn.send('{"type":"pong"}')
        assert await sock.closed_with() == 1008


def test_the_relay_fast_path_matches_the_envelope() -> None:
    from qoach.notifications.events import NOTIFICATION_HEAD, _tail, envelope

    data = {"id": 12, "kind": "quiz_created", "title": 'Ünïcode "quoted"', "payload": {}}
    assert envelope("notification", data).startswith(NOTIFICATION_HEAD)
    assert not envelope("read", {"ids": [1]}).startswith(NOTIFICATION_HEAD)
    # the fan-out template rebuilds exactly what `envelope` makes
    rest = {k: v for k, v in data.items() if k != "id"}
    assert NOTIFICATION_HEAD + "12" + _tail(rest) == envelope("notification", data)


# --- when the broker loses messages ---------------------------------------------------


def _tell(app: FastAPI, user: User, marker: str) -> None:
    """What a back end says to the user's subscriptions when it lost delivery."""
    subscriptions = list(app.state.broker._subscribers.get(user_topic(user.id), ()))
    assert subscriptions, "no open subscription for the user"
    for subscription in subscriptions:
        subscription.offer(marker)


async def test_resync_sends_what_the_broker_lost_once(
    live_server: LiveServer, client: AsyncClient, factory: Factory, db: AsyncSession, app: FastAPI
) -> None:
    alice = await factory.user()
    token = await _token(factory, alice)
    await make_notifications(db, app, alice, 2)  # before the socket: never sent without since
    async with open_socket(ws_url(live_server.ws_url, token)) as sock:
        (live,) = await make_notifications(db, app, alice)
        assert (await sock.next())["data"]["id"] == live.id
        lost = await make_notifications(db, app, alice, 2, publish=False)  # not pushed (yet)
        await sock.nothing(0.2)

        _tell(app, alice, RESYNC)  # delivery is back: catch up from the database
        received = await sock.notifications(2)
        assert [n["id"] for n in received] == [row.id for row in lost]
        rest = await client.get("/users/me/notifications", headers=await factory.headers(alice))
        assert received == list(reversed(rest.json()["items"][:2]))

        await run_after_commit(db)  # their live copies arrive late: skipped
        await sock.nothing(0.3)
        _tell(app, alice, RESYNC)  # nothing new since: nothing sent
        await sock.nothing(0.3)
        (after,) = await make_notifications(db, app, alice)
        assert (await sock.next())["data"]["id"] == after.id
        await sock.nothing()


async def test_during_a_broker_outage_the_socket_polls_the_database(
    live_server: LiveServer,
    client: AsyncClient,
    factory: Factory,
    db: AsyncSession,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ws, "POLL_SECONDS", 0.2)
    alice = await factory.user()
    token = await _token(factory, alice)
    async with open_socket(ws_url(live_server.ws_url, token, since=0)) as sock:
        _tell(app, alice, OUTAGE)
        await wait_until(lambda: app.state.ws_poll_budget.polling == 1)
        first = await make_notifications(db, app, alice, 2, publish=False)
        assert [n["id"] for n in await sock.notifications(2, within=3)] == [r.id for r in first]
        (second,) = await make_notifications(db, app, alice, publish=False)
        assert (await sock.next(within=3))["data"]["id"] == second.id

        _tell(app, alice, RESYNC)  # back: a last catch-up finds nothing new; polling stops
        await wait_until(lambda: app.state.ws_poll_budget.polling == 0)
        await run_after_commit(db)  # the live copies of what the polls sent: skipped
        await sock.nothing(0.6)
        (live,) = await make_notifications(db, app, alice)
        assert (await sock.next())["data"]["id"] == live.id
        await sock.nothing()

        _tell(app, alice, OUTAGE)
        await wait_until(lambda: app.state.ws_poll_budget.polling == 1)
    # a socket that closes while polling leaves the budget
    await wait_until(lambda: app.state.ws_poll_budget.polling == 0)


async def test_a_logout_during_a_broker_outage_still_closes_the_socket(
    live_server: LiveServer,
    client: AsyncClient,
    factory: Factory,
    db: AsyncSession,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ws, "POLL_SECONDS", 0.2)
    alice = await factory.user()
    token, _, login = await factory.tokens(alice)
    async with open_socket(ws_url(live_server.ws_url, token)) as sock:
        _tell(app, alice, OUTAGE)
        # revoked in the database; its `session_revoked` message never reaches us
        await db.execute(
            update(AuthSession).where(AuthSession.id == login.id).values(revoked_at=utcnow())
        )
        await db.commit()
        assert await sock.closed_with(within=3) == 4401


@pytest.mark.parametrize("with_since", [False, True])
async def test_late_live_copies_of_what_the_client_already_has_are_not_sent(
    live_server: LiveServer,
    client: AsyncClient,
    factory: Factory,
    db: AsyncSession,
    app: FastAPI,
    with_since: bool,
) -> None:
    """Created before the socket, published after it subscribed: not part of its stream
    (without `since` it starts after the newest notification; with `since` the client
    has everything up to that id)."""
    alice = await factory.user()
    token = await _token(factory, alice)
    (old,) = await make_notifications(db, app, alice, publish=False)
    url = (
        ws_url(live_server.ws_url, token, since=old.id)
        if with_since
        else ws_url(live_server.ws_url, token)
    )
    async with open_socket(url) as sock:
        await run_after_commit(db)  # the old notification's live copy arrives now
        (new,) = await make_notifications(db, app, alice)
        assert (await sock.next())["data"]["id"] == new.id
        await sock.nothing()
