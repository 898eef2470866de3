"""Calendar arithmetic the rules need: French dates, calendar offsets, telephone slots."""

from __future__ import annotations

import calendar
import functools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def as_utc(value: datetime) -> datetime:
    """Returns an aware UTC datetime; a naive value is read as UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def paris_date(value: datetime) -> date:
    """Returns the calendar date of an instant in metropolitan France."""
    return as_utc(value).astimezone(PARIS).date()


def _clamp_day(year: int, month: int, day: int) -> int:
    return min(day, calendar.monthrange(year, month)[1])


def minus_months(value: datetime, months: int) -> datetime:
    """Returns the same wall-clock time `months` calendar months earlier (day clamped)."""
    index = value.year * 12 + (value.month - 1) - months
    year, month = divmod(index, 12)
    return value.replace(year=year, month=month + 1, day=_clamp_day(year, month + 1, value.day))


def minus_years(value: datetime, years: int) -> datetime:
    """Returns the same wall-clock time `years` calendar years earlier (29 Feb becomes 28 Feb)."""
    return minus_months(value, 12 * years)


def _easter(year: int) -> date:
    # Anonymous Gregorian algorithm (Meeus/Jones/Butcher).
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    ell = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * ell) // 451
    month = (h + ell - 7 * m + 114) // 31
    day = (h + ell - 7 * m + 114) % 31 + 1
    return date(year, month, day)


@functools.cache
def french_public_holidays(year: int) -> frozenset[date]:
    """Returns the public holidays of art. L3133-1 Code du travail for a year."""
    easter = _easter(year)
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    movable = [easter + timedelta(days=1), easter + timedelta(days=39), easter + timedelta(days=50)]
    return frozenset([date(year, m, d) for m, d in fixed] + movable)


_MORNING = (time(10, 0), time(13, 0))
_AFTERNOON = (time(14, 0), time(20, 0))


@functools.cache
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def within_phone_slots(moment: datetime, timezone: str) -> bool:
    """Says whether a call at `moment` falls in the D223-9 slots in the consumer's time zone."""
    local = as_utc(moment).astimezone(_zone(timezone))
    if local.weekday() >= 5 or local.date() in french_public_holidays(local.year):
        return False
    t = local.time()
    return _MORNING[0] <= t < _MORNING[1] or _AFTERNOON[0] <= t < _AFTERNOON[1]
