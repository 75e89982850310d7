"""In-process caches of what a quiz version holds: versions are immutable.

A `PUT` makes a new `quiz_versions` row, so whatever is derived from one version's
questions and answers (the answer key, the encoded public view together with the
quiz's own columns) never goes stale.
Entries are keyed by the version's id AND its `created_at`: on SQLite a deleted
version's id can be reused, the pair never is. Each process keeps its own bounded
copy (no broker round trip: the data cannot change, only be evicted).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime
from typing import Generic, TypeVar

V = TypeVar("V")

VersionKey = tuple[int, datetime]


class BoundedLRU(Generic[V]):
    """A least-recently-used dict of at most `maxsize` entries (event-loop use only)."""

    def __init__(self, maxsize: int = 1024) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> None:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.maxsize:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
