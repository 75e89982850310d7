"""`from` / `to` query parameters: ISO dates or datetimes, both inclusive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import Depends, Query

from qoach.errors import field_error


@dataclass(frozen=True, slots=True)
class DateRange:
    """`start <= t < end` in UTC; either side may be open."""

    start: datetime | None
    end: datetime | None
    raw_from: str | None = None
    raw_to: str | None = None


def _parse(value: str, *, name: str, is_end: bool) -> datetime:
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time.min, tzinfo=UTC)
            return moment + timedelta(days=1) if is_end else moment
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise field_error(("query", name), f"`{name}` must be an ISO date or datetime") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    # an inclusive datetime bound becomes an exclusive one just after it
    return parsed + timedelta(microseconds=1) if is_end else parsed


def _date_range(
    from_: Annotated[
        str | None,
        Query(
            alias="from",
            max_length=40,
            description="Start, inclusive: an ISO date (`2026-11-01`) or datetime.",
        ),
    ] = None,
    to: Annotated[
        str | None,
        Query(
            max_length=40,
            description="End, inclusive: a bare date includes that whole day.",
        ),
    ] = None,
) -> DateRange:
    start = _parse(from_, name="from", is_end=False) if from_ else None
    end = _parse(to, name="to", is_end=True) if to else None
    if start is not None and end is not None and end <= start:
        raise field_error(("query", "to"), "`to` must not be before `from`")
    return DateRange(start=start, end=end, raw_from=from_, raw_to=to)


DateRangeDep = Annotated[DateRange, Depends(_date_range)]
