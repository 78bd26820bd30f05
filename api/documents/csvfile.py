"""CSV files as Excel and WPS in China open them: UTF-8 with a byte-order mark (without it Excel
reads the bytes as GBK and the Chinese comes out garbled), CRLF line ends, numbers bare, and text
that a spreadsheet would take for a formula prefixed with an apostrophe."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time
from decimal import Decimal

from api.documents.cells import guarded

CONTENT_TYPE = "text/csv; charset=utf-8"
BOM = "\ufeff"


def cell_text(value: object) -> str:
    """A value as a CSV cell: numbers as they are written in the sheet (2, 2.5), dates 2026-09-01,
    times 2026-09-01 09:30, yes/no as 是/否, None empty; other text guarded against formulas."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="minutes" if not value.second else "seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.replace(tzinfo=None).isoformat(timespec="minutes" if not value.second else "seconds")
    return guarded(str(value))


def csv_bytes(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    """A CSV file: the header row, then the rows, quoted only where needed (commas, quotes, line
    breaks), so numbers stay unquoted."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([cell_text(title) for title in headers])
    for row in rows:
        writer.writerow([cell_text(value) for value in row])
    return out.getvalue().encode("utf-8")
