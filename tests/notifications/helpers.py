"""Creating notifications the way flows do: `notify` in a transaction, publish on commit."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from qoach.db.session import commit
from qoach.models import NotificationKind, User
from qoach.notifications.events import CreatedNotification, notify


async def make_notifications(
    db: AsyncSession,
    app: FastAPI,
    user: User,
    count: int = 1,
    *,
    kind: NotificationKind = NotificationKind.quiz_created,
    company_id: int | None = None,
    publish: bool = True,
) -> list[CreatedNotification]:
    """`count` notifications of `user`, one transaction each (published after commit)."""
    rows: list[CreatedNotification] = []
    for i in range(count):
        rows += await notify(
            db,
            app.state.broker,
            user_ids=[user.id],
            kind=kind,
            title=f"Notification {i + 1}",
            body="body",
            company_id=company_id,
            payload={"n": i + 1},
        )
        if publish:
            await commit(db)
        else:
            await db.commit()  # committed, but its after-commit publish has not run
    return rows
