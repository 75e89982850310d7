"""Reading the database from tests without holding a transaction.

On SQLite every transaction begins IMMEDIATE (a write lock), so a read through the
`db` fixture must end its transaction before the app is called again; `commit()`
keeps the session's objects loaded (expire_on_commit=False).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable


async def scalar(db: AsyncSession, stmt: Executable) -> Any:
    try:
        return await db.scalar(stmt)
    finally:
        await db.commit()


async def all_rows(db: AsyncSession, stmt: Executable) -> list[Any]:
    try:
        return list((await db.execute(stmt)).all())
    finally:
        await db.commit()


async def count(db: AsyncSession, model: Any, *where: Any) -> int:
    return int(await scalar(db, select(func.count()).select_from(model).where(*where)) or 0)
