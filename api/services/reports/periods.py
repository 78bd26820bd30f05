"""Report periods: a month ("2026-09"), a quarter ("2026-Q3") or any span of days, in the
community's local dates, with both ends included."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from api.errors import invalid_field
from api.localtime import EARLIEST_DAY, LATEST_DAY

MONTH = re.compile(r"^([0-9]{4})-(0[1-9]|1[0-2])$")
QUARTER = re.compile(r"^([0-9]{4})-Q([1-4])$")
# ASCII digits only: a full-width "２０２６" is not a period
PERIOD_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2]|Q[1-4])$"
MAX_DAYS = 3 * 366 + 1  # a three-year contract is the longest span a report covers


@dataclass(frozen=True)
class Span:
    first: date
    last: date

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) as aware datetimes: midnight of the first day to midnight after the last."""
        return datetime.combine(self.first, time(0), tz), datetime.combine(self.last + timedelta(days=1), time(0), tz)

    def days(self) -> int:
        return (self.last - self.first).days + 1

    def months(self) -> list[str]:
        out, day = [], self.first.replace(day=1)
        while day <= self.last:
            out.append(f"{day:%Y-%m}")
            day = (day + timedelta(days=32)).replace(day=1)
        return out

    def clip(self, other: Span) -> Span | None:
        first, last = max(self.first, other.first), min(self.last, other.last)
        return Span(first, last) if first <= last else None


def month_span(year: int, month: int) -> Span:
    first = date(year, month, 1)
    return Span(first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1))


def quarter_span(year: int, quarter: int) -> Span:
    first = date(year, 3 * quarter - 2, 1)
    return Span(first, month_span(year, 3 * quarter).last)


def parse_period(text: str, field: str = "period", source: str = "body") -> Span:
    """ "2026-09" or "2026-Q3" as its span of days."""
    if found := MONTH.match(text):
        year, number = int(found[1]), int(found[2])
        if EARLIEST_DAY.year <= year <= LATEST_DAY.year:
            return month_span(year, number)
    elif found := QUARTER.match(text):
        year, number = int(found[1]), int(found[2])
        if EARLIEST_DAY.year <= year <= LATEST_DAY.year:
            return quarter_span(year, number)
    raise invalid_field(field, "应为月份（如 2026-09）或季度（如 2026-Q3）", kind="period_invalid", source=source)


def span(first: date, last: date, source: str = "query") -> Span:
    if last < first:
        raise invalid_field("to", "结束日期不能早于开始日期", kind="period_invalid", source=source)
    if (last - first).days + 1 > MAX_DAYS:
        raise invalid_field("to", "一次最多统计三年", kind="period_too_long", source=source)
    return Span(first, last)


def month_label(key: str) -> str:
    return f"{int(key[:4])}年{int(key[5:7])}月"


def grain_periods(within: Span, grain: str) -> list[tuple[str, Span]]:
    """The months or quarters overlapping `within`, each with its whole span."""
    out: list[tuple[str, Span]] = []
    for key in within.months():
        year, number = int(key[:4]), int(key[5:7])
        if grain == "quarter":
            quarter = (number - 1) // 3 + 1
            qkey = f"{year}-Q{quarter}"
            if not out or out[-1][0] != qkey:
                out.append((qkey, quarter_span(year, quarter)))
        else:
            out.append((key, month_span(year, number)))
    return out
