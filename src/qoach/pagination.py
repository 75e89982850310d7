"""`limit` / `offset` paging and the `{items, total, limit, offset}` envelope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel

from qoach.params import MAX_ID

T = TypeVar("T")

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class PageParams:
    limit: int
    offset: int


def _page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (1–100).")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_ID, description="Items to skip (≥ 0).")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(_page_params)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def escape_like(value: str) -> str:
    """Make `%`, `_` and `\\` literal in a LIKE pattern (use with escape='\\\\')."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
