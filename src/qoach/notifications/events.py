"""The one way flows raise notifications: rows now, pushes after the commit.

`notify()` inserts the notification rows in the caller's transaction and
registers an after-commit hook that publishes each one to its user's topic on the
broker; every app instance relays what it receives to the sockets it holds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.broker import Broker
from qoach.db.session import after_commit
from qoach.models import Notification, NotificationKind

logger = logging.getLogger("qoach.notifications")


def user_topic(user_id: int) -> str:
    return f"user:{user_id}"


def envelope(message_type: str, data: dict[str, Any]) -> str:
    return json.dumps({"type": message_type, "data": data}, default=str, separators=(",", ":"))


def notification_data(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "title": row.title,
        "body": row.body,
        "company_id": row.company_id,
        "payload": row.payload,
        "is_read": row.is_read,
        "created_at": row.created_at.isoformat().replace("+00:00", "Z"),
    }


async def publish_notifications(broker: Broker, rows: Sequence[Notification]) -> None:
    """Push each row to its user's topic (pipelined: a fan-out is a few round trips)."""
    if not rows:
        return
    messages = [
        (user_topic(row.user_id), envelope("notification", notification_data(row))) for row in rows
    ]
    try:
        await broker.publish_many(messages)
    except Exception as exc:  # the database holds them; clients catch up with ?since=
        logger.warning("could not publish %d notification(s): %s", len(rows), exc)


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
) -> list[Notification]:
    """Create one notification per user (in this transaction); push them after commit."""
    recipients = sorted(set(user_ids))
    if not recipients:
        return []
    values = [
        {
            "user_id": user_id,
            "company_id": company_id,
            "kind": kind.value,
            "title": title[:300],
            "body": body,
            "payload": payload or {},
            "is_read": False,
        }
        for user_id in recipients
    ]
    rows = list((await session.scalars(insert(Notification).returning(Notification), values)).all())

    async def _publish() -> None:
        await publish_notifications(broker, rows)

    after_commit(session, _publish)
    return rows


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
