"""Rules of the notification inbox: list, mark read (and tell the user's other devices)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from qoach.broker import Broker
from qoach.db.session import after_commit
from qoach.db.types import utcnow
from qoach.errors import NotFound
from qoach.notifications import repository
from qoach.notifications.events import envelope, user_topic
from qoach.notifications.schemas import NotificationPage, NotificationRead, ReadAllResult
from qoach.pagination import PageParams

logger = logging.getLogger("qoach.notifications")


async def list_notifications(
    session: AsyncSession, user_id: int, page: PageParams, *, unread_only: bool
) -> NotificationPage:
    items, total, unread_count = await repository.list_page(
        session, user_id, unread_only=unread_only, limit=page.limit, offset=page.offset
    )
    return NotificationPage(
        items=[NotificationRead.model_validate(item) for item in items],
        total=total,
        limit=page.limit,
        offset=page.offset,
        unread_count=unread_count,
    )


def _publish_read_after_commit(
    session: AsyncSession, broker: Broker, user_id: int, ids: Sequence[int]
) -> None:
    message = envelope("read", {"ids": list(ids)})

    async def _publish() -> None:
        try:
            await broker.publish(user_topic(user_id), message)
        except Exception as exc:  # the database holds the truth; clients re-list
            logger.warning("could not publish read state for user %s: %s", user_id, exc)

    after_commit(session, _publish)


async def mark_read(
    session: AsyncSession, broker: Broker, user_id: int, notification_id: int
) -> NotificationRead:
    notification = await repository.get_for_user(session, notification_id, user_id)
    if notification is None:
        raise NotFound("Notification not found")
    if not notification.is_read:
        notification.is_read = True
        notification.read_at = utcnow()
        await session.flush()
        _publish_read_after_commit(session, broker, user_id, [notification.id])
    return NotificationRead.model_validate(notification)


async def mark_all_read(session: AsyncSession, broker: Broker, user_id: int) -> ReadAllResult:
    ids = await repository.mark_all_read(session, user_id, utcnow())
    if ids:
        _publish_read_after_commit(session, broker, user_id, ids)
    return ReadAllResult(updated=len(ids))
