"""The one way flows raise notifications: rows now, pushes after the commit.

`notify()` inserts the notification rows in the caller's transaction (one
set-based statement however many users) and registers an after-commit hook that
publishes them to their users' topics on the broker; every app instance relays
what it receives to the sockets it holds.

A fan-out (one quiz, 5,000 members) shares everything but the notification id, so
it is published as ONE broker message: the JSON of the `notification` message is
built once, split around the id (`NOTIFICATION_HEAD` + id + tail), and each
instance puts back the ids of the users it holds sockets for.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from qoach.broker import Broker
from qoach.db.session import after_commit
from qoach.db.types import utcnow
from qoach.models import Notification, NotificationKind
from qoach.notifications import repository

logger = logging.getLogger("qoach.notifications")

# How every `notification` message starts: `envelope("notification", data)` with
# the id first in `data`. The socket relay reads the id right after it.
NOTIFICATION_HEAD = '{"type":"notification","data":{"id":'


class CreatedNotification(NamedTuple):
    id: int
    user_id: int


def user_topic(user_id: int) -> str:
    return f"user:{user_id}"


def envelope(message_type: str, data: dict[str, Any]) -> str:
    return json.dumps({"type": message_type, "data": data}, default=str, separators=(",", ":"))


def _iso(value: Any) -> str:
    return str(value.isoformat().replace("+00:00", "Z"))


def notification_data(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "title": row.title,
        "body": row.body,
        "company_id": row.company_id,
        "payload": row.payload,
        "is_read": row.is_read,
        "created_at": _iso(row.created_at),
    }


def _tail(data: dict[str, Any]) -> str:
    """What follows the id in the message of a notification with this content
    (`data` without its id): NOTIFICATION_HEAD + id + tail == envelope(...)."""
    rest = json.dumps(data, default=str, separators=(",", ":"))
    return "," + rest[1:] + "}"


async def _publish(broker: Broker, groups: dict[str, list[tuple[str, str]]], count: int) -> None:
    try:
        for tail, parts in groups.items():
            await broker.publish_template(NOTIFICATION_HEAD, tail, parts)
    except Exception as exc:  # the database holds them; clients catch up with ?since=
        logger.warning("could not publish %d notification(s): %s", count, exc)


async def publish_notifications(broker: Broker, rows: Sequence[Notification]) -> None:
    """Push each row to its user's topic; rows of the same content travel together."""
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        data = notification_data(row)
        del data["id"]
        groups[_tail(data)].append((user_topic(row.user_id), str(row.id)))
    if groups:
        await _publish(broker, groups, len(rows))


async def notify(
    session: AsyncSession,
    broker: Broker,
    *,
    user_ids: Iterable[int],
    kind: NotificationKind,
    title: str,
    body: str = "",
    company_id: int | None = None,
    payload: dict[str, Any] | None = None,
) -> list[CreatedNotification]:
    """Create one notification per user (in this transaction); push them after commit."""
    recipients = sorted(set(user_ids))
    if not recipients:
        return []
    title, payload = title[:300], payload or {}
    created_at = utcnow()  # one timestamp for the whole fan-out
    created = await repository.insert_for_users(
        session,
        recipients,
        company_id=company_id,
        kind=kind.value,
        title=title,
        body=body,
        payload=payload,
        created_at=created_at,
    )
    shared = {
        "kind": kind.value,
        "title": title,
        "body": body,
        "company_id": company_id,
        "payload": payload,
        "is_read": False,
        "created_at": _iso(created_at),
    }
    parts = [(user_topic(user_id), str(notification_id)) for notification_id, user_id in created]

    async def _publish_after_commit() -> None:
        await _publish(broker, {_tail(shared): parts}, len(parts))

    after_commit(session, _publish_after_commit)
    return [CreatedNotification(notification_id, user_id) for notification_id, user_id in created]


async def publish_session_revoked(
    broker: Broker, user_id: int, session_ids: Sequence[int] | None
) -> None:
    """Tell every instance that logins of `user_id` ended (None = all of them).

    Sockets authenticated by those logins close. Call it after the commit that
    revoked them (use `after_commit`).
    """
    if session_ids is not None and not session_ids:
        return  # nothing revoked (an empty list must not read as "all of them")
    try:
        await broker.publish(
            user_topic(user_id),
            envelope(
                "session_revoked",
                {"session_ids": None if session_ids is None else list(session_ids)},
            ),
        )
    except Exception as exc:
        logger.warning("could not publish session revocation for user %s: %s", user_id, exc)
