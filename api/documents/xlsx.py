"""XLSX workbooks with openpyxl: writing exports (`workbook`) and reading an uploaded sheet
(`read_rows`).

Writing uses openpyxl's write-only mode, which streams rows to a temporary file, so a sheet of tens
of thousands of rows does not sit in memory as cell objects. Each sheet has a bold header row that
stays in view (panes frozen below it), column widths given or estimated from the header and the
first rows, numbers and dates as real numbers and dates (so that funders can add them up), and
text that a spreadsheet would take for a formula kept as text.

Reading uses read-only mode on the first sheet and gives every cell as text. The file is a
stranger's upload: its unzipped size is bounded before anything is parsed, any XML part with a DTD
or entity declarations is refused (what defusedxml would refuse), and whatever openpyxl cannot make
sense of is `Unreadable`, never a crash.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from itertools import chain, islice
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import coordinate_to_tuple
from openpyxl.worksheet._reader import WorkSheetParser

from api.documents.cells import display_width, looks_like_formula

CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# -- writing -------------------------------------------------------------------------------------

MAX_SHEET_NAME = 31
MAX_CELL_TEXT = 32_767  # Excel's limit for the text in one cell
WIDTH_SAMPLE = 500  # rows read ahead to estimate column widths (the rest stream past)
MIN_WIDTH, MAX_WIDTH = 6.0, 60.0
DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
TIME_FORMAT = "hh:mm"

# characters XML 1.0 does not allow (control characters other than tab and newlines, surrogates,
# U+FFFE/U+FFFF): user input could carry them, and openpyxl would refuse the whole sheet
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_IN_SHEET_NAME = re.compile(r"[\[\]:*?/\\]")
# a text openpyxl would write as an error value rather than as text
_ERROR_CODES = frozenset({"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A"})


@dataclass
class Sheet:
    """One sheet of a workbook: a header row, then the rows (an iterable, read once, as it is
    written). `widths` are in Excel's units (about one Latin character each); without them they are
    estimated from the header and the first rows."""

    name: str
    headers: Sequence[str]
    rows: Iterable[Sequence[object]]
    widths: Sequence[float] | None = None


def sheet_name(name: str, taken: set[str] | None = None) -> str:
    """`name` as Excel accepts it: none of []:*?/\\, no apostrophe at either end, not blank, at most
    31 characters, and (given the names already taken, compared as Excel does, ignoring case) not
    one of them; `taken` is updated."""
    clean = _NOT_IN_SHEET_NAME.sub("_", _NOT_XML.sub("", name)).strip().strip("'").strip()
    clean = clean[:MAX_SHEET_NAME].rstrip("'") or "Sheet"
    if clean.casefold() == "history":  # Excel keeps this name for itself
        clean = "History_"
    if taken is None:
        return clean
    candidate, number = clean, 1
    while candidate.casefold() in taken:
        number += 1
        suffix = f"({number})"
        candidate = clean[: MAX_SHEET_NAME - len(suffix)] + suffix
    taken.add(candidate.casefold())
    return candidate


def _text(value: str) -> str:
    return _NOT_XML.sub("", value)[:MAX_CELL_TEXT]


def _cell(sheet: Any, value: object) -> object:
    """A cell of a row: a bare value where openpyxl's default is right, else a styled cell."""
    if isinstance(value, bool):  # before int: a bool is an int
        return "是" if value else "否"
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):  # a sheet has no NaN or infinity: left empty
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
        return value if finite else None
    if isinstance(value, datetime | date | time):
        if isinstance(value, datetime | time) and value.tzinfo is not None:
            value = value.replace(tzinfo=None)  # the wall time in its offset: Excel has no time zones
        cell = WriteOnlyCell(sheet)
        cell.value = value
        cell.number_format = (
            DATETIME_FORMAT if isinstance(value, datetime) else TIME_FORMAT if isinstance(value, time) else DATE_FORMAT
        )
        return cell
    text = _text(str(value))
    if looks_like_formula(text) or text in _ERROR_CODES:
        # text, not a formula (openpyxl writes "=…" as one) and not an error value; the quote prefix
        # is the apostrophe a user types in Excel or WPS: shown as typed, kept as text when edited
        cell = WriteOnlyCell(sheet, value=text)
        cell.data_type = "s"
        cell.quotePrefix = True
        return cell
    return text


def _width_of(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return 2  # 是, 否
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, float):
        return len(f"{value:.2f}".rstrip("0").rstrip("."))
    return display_width(str(value))


def estimate_widths(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[float]:
    """Column widths fitting the header and the rows' widest cells (CJK characters count two), with
    a little room, between 6 and 60."""
    count = max([len(headers), *(len(row) for row in rows)], default=0)
    widths = []
    for index in range(count):
        cells = [headers[index] if index < len(headers) else None, *(r[index] for r in rows if index < len(r))]
        widest = max((_width_of(v) for v in cells), default=0)
        widths.append(min(max(widest + 2.0, MIN_WIDTH), MAX_WIDTH))
    return widths


def _write_sheet(book: Workbook, sheet: Sheet, taken: set[str]) -> None:
    out = book.create_sheet(sheet_name(sheet.name, taken))
    rows = iter(sheet.rows)
    ahead = [list(row) for row in islice(rows, 0 if sheet.widths is not None else WIDTH_SAMPLE)]
    widths = sheet.widths if sheet.widths is not None else estimate_widths(sheet.headers, ahead)
    for index, width in enumerate(widths, start=1):
        out.column_dimensions[get_column_letter(index)].width = float(width)
    bold = Font(bold=True)
    if sheet.headers:
        out.freeze_panes = "A2"
        header = []
        for title in sheet.headers:
            cell = WriteOnlyCell(out, value=_text(str(title)))
            cell.data_type = "s"
            cell.font = bold
            cell.alignment = Alignment(vertical="center", wrap_text=True)
            header.append(cell)
        out.append(header)
    for row in chain(ahead, rows):
        out.append([_cell(out, value) for value in row])


def workbook(sheets: Sequence[Sheet]) -> bytes:
    """An XLSX file of the sheets, in order (names made valid and unique). With no sheets, one empty
    sheet: a workbook must have one."""
    book = Workbook(write_only=True)
    taken: set[str] = set()
    for sheet in sheets or [Sheet("Sheet", [], [])]:
        _write_sheet(book, sheet, taken)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


# -- reading -------------------------------------------------------------------------------------

MAX_UNZIPPED = 50 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 256
_XML_PARTS = (".xml", ".rels", ".vml")
_VALUE = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}v"
_DECLARATIONS = tuple(
    word.encode(encoding) for word in ("<!DOCTYPE", "<!ENTITY") for encoding in ("ascii", "utf-16-le", "utf-16-be")
)


class ReadError(ValueError):
    """An uploaded workbook that cannot be taken; the subclasses say why."""


class Unreadable(ReadError):
    """Not a workbook this reader can read: not a zip, no sheet, damaged XML, a DTD."""


class TooLarge(ReadError):
    """The parts add up to more than `limit` bytes unzipped."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} bytes unzipped")
        self.limit = limit


class TooManyRows(ReadError):
    """The first sheet has more than `limit` rows (counting the header and blank rows)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} rows")
        self.limit = limit


class BadCell(Unreadable):
    """A cell that cannot be read (it points at a shared string the file does not have): `row`
    from 1, `column` in letters."""

    def __init__(self, row: int, column: str) -> None:
        super().__init__(f"{column}{row} cannot be read")
        self.row, self.column = row, column


class FormulaError(ReadError):
    """A cell holds a formula's error (#N/A, #REF!…): `row` from 1, `column` in letters."""

    def __init__(self, row: int, column: str, value: str) -> None:
        super().__init__(f"{column}{row} holds {value}")
        self.row, self.column, self.value = row, column, value


def _refuse_declarations(archive: zipfile.ZipFile) -> None:
    """A spreadsheet's XML has no DTD: a part declaring one (billion laughs, external entities) is
    refused before openpyxl parses anything. Read in chunks, in ASCII and UTF-16."""
    overlap = max(len(word) for word in _DECLARATIONS)
    for info in archive.infolist():
        if not info.filename.lower().endswith(_XML_PARTS):
            continue
        with archive.open(info) as part:
            tail = b""
            while chunk := part.read(1024 * 1024):
                window = (tail + chunk).upper()
                if any(word in window for word in _DECLARATIONS):
                    raise Unreadable(f"{info.filename} declares a DTD")
                tail = window[-overlap:]


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)  # ISBNs and years stored as 9.78E12
    if isinstance(value, datetime):
        if value.time() == time():
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _row_text(cells: Iterable[dict[str, Any]], number: int, max_columns: int) -> list[str]:
    texts: dict[int, str] = {}
    for cell in cells:
        column = cell["column"]
        if column > max_columns:
            continue  # far to the right of anything asked for
        if cell["data_type"] == "e":
            raise FormulaError(number, get_column_letter(column), str(cell["value"] or "")[:16])
        texts[column] = _as_text(cell["value"])
    row = [texts.get(column, "") for column in range(1, max(texts, default=0) + 1)]
    while row and row[-1] == "":
        row.pop()
    return row


def _check_shared_strings(parser: Any, count: int) -> None:
    """Make the parser refuse a cell pointing at a shared string the file does not have (openpyxl
    would take "-1" as the last one, "٤" as the fifth, and fail without saying where on "x")."""
    parse_cell = parser.parse_cell

    def checked(element: Any) -> Any:
        if element.get("t") == "s":
            raw = (element.findtext(_VALUE) or "").strip()
            if raw and not (raw.isascii() and raw.isdigit() and int(raw) < count):
                ref = element.get("r")
                row, column = coordinate_to_tuple(ref) if ref else (parser.row_counter, parser.col_counter + 1)
                raise BadCell(row, get_column_letter(column))
        return parse_cell(element)

    vars(parser)["parse_cell"] = checked  # parse_row calls self.parse_cell


def _rows(data: bytes, max_rows: int, max_columns: int) -> Iterator[list[str]]:
    """The first sheet's rows, read with openpyxl's own sheet parser (what a read-only sheet's
    iter_rows uses) rather than iter_rows, which would silently skip rows out of order and make up
    every empty row before a row numbered 1,000,000: here both are refused at once."""
    # the parser and the parts it needs are what ReadOnlyWorksheet._cells_by_row uses (openpyxl 3.1)
    book: Any = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    try:
        sheet: Any = book.worksheets[0]
        with sheet._get_source() as source:
            parser = WorkSheetParser(
                source,
                sheet._shared_strings,
                data_only=True,
                epoch=book.epoch,
                date_formats=book._date_formats,
                timedelta_formats=book._timedelta_formats,
            )
            _check_shared_strings(parser, len(sheet._shared_strings))
            done = 0
            for number, cells in parser.parse():
                if number <= done:
                    raise Unreadable(f"row {number} comes after row {done}")
                if number > max_rows:
                    raise TooManyRows(max_rows)
                for _ in range(done + 1, number):
                    yield []  # the blank rows Excel leaves out of the file, so that numbers match
                yield _row_text(cells, number, max_columns)
                done = number
    finally:
        book.close()


def read_rows(
    data: bytes, *, max_unzipped: int = MAX_UNZIPPED, max_rows: int = MAX_ROWS, max_columns: int = MAX_COLUMNS
) -> list[list[str]]:
    """The first sheet's rows, every value as text (whole numbers without ".0", dates as
    2026-09-01), trailing empty cells dropped; blank rows are kept (as []) so that row numbers match
    the sheet's. Columns past `max_columns` are ignored. Raises a `ReadError`: `TooLarge`,
    `TooManyRows`, `FormulaError` or `Unreadable`."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > max_unzipped:
                raise TooLarge(max_unzipped)
            _refuse_declarations(archive)
        return list(_rows(data, max_rows, max_columns))
    except ReadError:
        raise
    # openpyxl reading a stranger's file can fail in many ways (a bad zip, a missing part, damaged
    # XML, a cell reference past XFD, a shared string that is not there, a password): all of them
    # are a file that cannot be read, not a bug
    except Exception as exc:
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc
