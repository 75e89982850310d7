"""Cut a date range into whole rollup periods plus the raw slices left over.

A range `start <= t < end` (UTC, either side open) becomes:

- `spans`: runs of whole periods of one grain, `(grain, first, stop)` meaning the
  periods of that grain whose `period_start` is in `[first, stop)` (None = open);
- `raw`: at most two slices `[a, b)` at the edges that no whole period of an
  allowed grain covers, read from the attempts themselves.

The cut is greedy from both ends: a partial day, then whole days up to the next
month (only when days are allowed), then months up to the next year, then years.
So the sum over spans + raw counts every attempt of the range exactly once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from qoach.models.stats import Grain

_ORDER = (Grain.day, Grain.month, Grain.year)


@dataclass(frozen=True, slots=True)
class Span:
    grain: Grain
    first: date | None  # None: from the beginning
    stop: date | None  # None: to the end


@dataclass(frozen=True, slots=True)
class Plan:
    spans: list[Span] = field(default_factory=list)
    raw: list[tuple[datetime | None, datetime | None]] = field(default_factory=list)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def _floor(day: date, grain: Grain) -> date:
    if grain is Grain.month:
        return day.replace(day=1)
    if grain is Grain.year:
        return day.replace(month=1, day=1)
    return day


def _ceil(day: date, grain: Grain) -> date:
    """The first start of a `grain` period on or after `day`."""
    floor = _floor(day, grain)
    if floor == day:
        return day
    if grain is Grain.month:
        return _next_month(day)
    return date(day.year + 1, 1, 1)


def plan(
    start: datetime | None,
    end: datetime | None,
    finest: Grain,
    coarsest: Grain = Grain.year,
) -> Plan:
    """Spans of grains `finest` … `coarsest`, plus raw slices, covering `[start, end)`."""
    result = Plan()
    # 1. partial days at the edges are raw
    first_day: date | None = None
    stop_day: date | None = None
    if start is not None:
        first_day = start.astimezone(UTC).date()
        if _midnight(first_day) != start:
            first_day += timedelta(days=1)
            edge = _midnight(first_day)
            if end is not None and end <= edge:
                result.raw.append((start, end))
                return result
            result.raw.append((start, edge))
    if end is not None:
        stop_day = end.astimezone(UTC).date()
        if _midnight(stop_day) != end:
            low = _midnight(stop_day)
            result.raw.append((max(low, _midnight(first_day)) if first_day else low, end))
    if first_day is not None and stop_day is not None and first_day >= stop_day:
        return result

    # 2. whole days: days below `finest` are raw, then grain by grain outwards
    grains = list(_ORDER[_ORDER.index(finest) : _ORDER.index(coarsest) + 1])
    if finest is not Grain.day:
        _edges(result, first_day, stop_day, finest, emit=_raw_days(result))
        first_day = _ceil(first_day, finest) if first_day is not None else None
        stop_day = _floor(stop_day, finest) if stop_day is not None else None
        if first_day is not None and stop_day is not None and first_day >= stop_day:
            return result
    for grain, coarser in zip(grains, [*grains[1:], None], strict=True):
        if coarser is None:
            result.spans.append(Span(grain, first_day, stop_day))
            break
        done = _edges(result, first_day, stop_day, coarser, emit=_span(result, grain))
        if done:
            break
        first_day = _ceil(first_day, coarser) if first_day is not None else None
        stop_day = _floor(stop_day, coarser) if stop_day is not None else None
        if first_day is not None and stop_day is not None and first_day >= stop_day:
            break
    return result


Emit = Callable[[date | None, date | None], None]


def _span(result: Plan, grain: Grain) -> Emit:
    def emit(first: date | None, stop: date | None) -> None:
        result.spans.append(Span(grain, first, stop))

    return emit


def _raw_days(result: Plan) -> Emit:
    def emit(first: date | None, stop: date | None) -> None:
        assert first is not None and stop is not None
        result.raw.append((_midnight(first), _midnight(stop)))

    return emit


def _edges(result: Plan, first: date | None, stop: date | None, coarser: Grain, emit: Emit) -> bool:
    """Emit the pieces of `[first, stop)` outside whole `coarser` periods.

    True when the whole range lies inside one `coarser` period (all emitted).
    """
    up = _ceil(first, coarser) if first is not None else None
    down = _floor(stop, coarser) if stop is not None else None
    if first is not None and stop is not None and up is not None and down is not None and up > down:
        emit(first, stop)  # inside a single coarser period
        return True
    if first is not None and up is not None and first < up:
        emit(first, up)
    if stop is not None and down is not None and down < stop:
        emit(down, stop)
    return False
