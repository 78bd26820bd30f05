"""Importing a catalogue sheet (CSV or XLSX) that a volunteer typed up.

Every row is checked first and the problems come back with their row numbers; the file is
imported whole or not at all. Books are matched by ISBN (or title and author when there is none)
and copies by barcode, so importing the same file again changes nothing. Headers may be Chinese or
English (书名/title, ISBN, 作者/author, 出版社, 出版年, 适读年龄 "3-6", 标签, 简介, 册数, 条码 …);
copies without barcodes get stable generated ones.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.db.models import Book, BookCopy, User
from api.documents import xlsx
from api.errors import Unprocessable
from api.services.access import require_staff
from api.services.library import isbn as isbns

MAX_BYTES = 5 * 1024 * 1024
MAX_UNZIPPED = 50 * 1024 * 1024
MAX_ROWS = 20_000
MAX_ERRORS = 200
MAX_COPIES_PER_ROW = 50
MAX_COLUMNS = 64  # a catalogue sheet has a dozen; Excel allows 16,384
# the longest each text may be: its column (the summary as the catalogue form allows)
TEXT_LIMITS = (
    ("author", "作者", 128),
    ("publisher", "出版社", 128),
    ("summary", "简介", 5000),
    ("location", "位置", 64),
    ("donated_by", "捐赠人", 64),
)

COLUMNS = {
    "title": ("书名", "题名", "名称", "title"),
    "isbn": ("isbn", "书号", "isbn号"),
    "author": ("作者", "著者", "author"),
    "publisher": ("出版社", "publisher"),
    "year": ("出版年", "出版年份", "年份", "year"),
    "age": ("适读年龄", "年龄", "年龄段", "适合年龄", "age"),
    "tags": ("标签", "分类", "tags"),
    "summary": ("简介", "内容简介", "summary"),
    "copies": ("册数", "数量", "复本数", "copies"),
    "barcode": ("条码", "条形码", "条码号", "barcode", "barcodes"),
    "location": ("位置", "书架", "架位", "location"),
    "donated_by": ("捐赠人", "捐赠者", "捐赠", "donated_by"),
}
_SPLIT = re.compile(r"[,，;；、/\s]+")


@dataclass
class Row:
    number: int
    title: str
    isbn: str | None
    author: str
    publisher: str
    year: int | None
    age_min: int | None
    age_max: int | None
    tags: list[str]
    summary: str
    barcodes: list[str]
    location: str
    donated_by: str
    generated: bool = False  # the barcodes were made up (the sheet had none)


@dataclass
class Problems:
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, row: int, column: str, message: str) -> None:
        if len(self.items) < MAX_ERRORS:
            self.items.append({"row": row, "column": column, "message": message})


# -- reading the file ----------------------------------------------------------------------------


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise Unprocessable("import_unreadable", "文件编码无法识别，请另存为 UTF-8 的 CSV 或 XLSX")


def _cell_refused(code: str, row: int, column: str, problem: str) -> Unprocessable:
    """A cell the importer cannot take, named as the sheet names it (第3行 B 列)."""
    return Unprocessable(
        code, f"第{row}行 {column} 列{problem}", details=[{"row": row, "column": column, "message": problem}]
    )


def read_xlsx(data: bytes) -> list[list[str]]:
    """The first sheet's cells as text (`documents.xlsx.read_rows`: openpyxl, the unzipped size
    bounded, no DTDs), with the importer's limits and errors. A cell that points at a shared string
    the file does not have, or holds a formula's error (#N/A), is refused with its row and column."""
    try:
        return xlsx.read_rows(data, max_unzipped=MAX_UNZIPPED, max_rows=MAX_ROWS + 1, max_columns=MAX_COLUMNS)
    except xlsx.TooLarge as exc:
        raise Unprocessable(
            "import_unzipped_too_large", "文件解压后过大（最多 50 MB），请删去图片等内容后再试"
        ) from exc
    except xlsx.TooManyRows as exc:
        raise Unprocessable("import_too_many_rows", f"最多导入{MAX_ROWS}行", details={"max_rows": MAX_ROWS}) from exc
    except xlsx.FormulaError as exc:
        raise _cell_refused(
            "import_invalid", exc.row, exc.column, f"是公式错误（{exc.value}），请改正后再导入"
        ) from exc
    except xlsx.BadCell as exc:
        problem = "无法读取（文件可能已损坏），请另存为 CSV 再试"
        raise _cell_refused("import_unreadable", exc.row, exc.column, problem) from exc
    except xlsx.ReadError as exc:
        raise Unprocessable("import_unreadable", "无法读取这个 XLSX 文件，请另存为 CSV 再试") from exc


def read_table(data: bytes, kind: str) -> list[list[str]]:
    if len(data) > MAX_BYTES:
        raise Unprocessable("import_too_large", "文件不能超过 5 MB", status=413, details={"max_bytes": MAX_BYTES})
    if kind == "xlsx":
        table = read_xlsx(data)
    else:
        reader = csv.reader(io.StringIO(_decode(data)))
        try:
            table = list(reader)
        except csv.Error as exc:  # a field past csv's limit, a stray quote at the end…
            # csv's own words are English ("field larger than field limit"): say where, and what to do
            raise Unprocessable(
                "import_unreadable",
                f"CSV 文件第{reader.line_num}行附近格式有误：可能有未闭合的引号，或某一格内容过长",
                details={"line": reader.line_num},
            ) from exc
    if len(table) > MAX_ROWS + 1:
        raise Unprocessable("import_too_many_rows", f"最多导入{MAX_ROWS}行", details={"max_rows": MAX_ROWS})
    # NUL characters go: no database text column takes them
    return [[cell.replace("\x00", "") for cell in row] for row in table]


# -- checking the rows ---------------------------------------------------------------------------


def _header_map(header: list[str]) -> dict[str, int]:
    names = {alias.lower(): key for key, aliases in COLUMNS.items() for alias in aliases}
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = names.get(re.sub(r"\s", "", cell).lower())
        if key is not None and key not in found:
            found[key] = index
    return found


def _ages(text: str) -> tuple[int | None, int | None]:
    numbers = [int(n) for n in re.findall(r"[0-9]+", unicodedata.normalize("NFKC", text))[:2]]
    if not numbers or any(n > 18 for n in numbers):
        raise ValueError("写成 3-6 或 6岁以上（0–18 岁）")
    if len(numbers) == 1:
        return (numbers[0], None) if re.search(r"以上|\+|起", text) else (numbers[0], numbers[0])
    low, high = numbers
    if low > high:
        raise ValueError("年龄段小的在前，如 3-6")
    return low, high


def generated_barcode(book_key: str, n: int) -> str:
    """A stable barcode for the n-th copy of a book that came without barcodes."""
    return f"LL{hashlib.sha1(book_key.encode()).hexdigest()[:10].upper()}-{n:02d}"  # noqa: S324 - a label, not security


def check_rows(table: list[list[str]]) -> tuple[list[Row], Problems]:
    problems = Problems()
    if not table or not any(table[0]):
        problems.add(1, "", "第一行应是表头（书名、ISBN、作者、册数、条码…）")
        return [], problems
    columns = _header_map(table[0])
    if "title" not in columns:
        problems.add(1, "书名", "找不到“书名”一列")
        return [], problems

    def get(cells: list[str], key: str) -> str:
        index = columns.get(key)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    rows: list[Row] = []
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        title = get(cells, "title")
        if not title:
            problems.add(number, "书名", "书名不能为空")
        elif len(title) > 128:
            problems.add(number, "书名", "书名太长（最多128字）")
        isbn: str | None = None
        if raw := get(cells, "isbn"):
            try:
                isbn = isbns.normalise(raw)
            except ValueError as exc:
                problems.add(number, "ISBN", f"ISBN 不正确：{exc}")
        year: int | None = None
        if raw := get(cells, "year"):
            match = re.match(r"(\d{4})", raw)
            if match is None or not 1900 <= int(match.group(1)) <= 2100:
                problems.add(number, "出版年", "出版年应是四位年份")
            else:
                year = int(match.group(1))
        ages: tuple[int | None, int | None] = (None, None)
        if raw := get(cells, "age"):
            try:
                ages = _ages(raw)
            except ValueError as exc:
                problems.add(number, "适读年龄", str(exc))
        barcodes = [b for b in _SPLIT.split(get(cells, "barcode")) if b]
        copies = len(barcodes) or 1
        if raw := get(cells, "copies"):
            if not raw.isdigit() or not 0 <= int(raw) <= MAX_COPIES_PER_ROW:
                problems.add(number, "册数", f"册数应是 0–{MAX_COPIES_PER_ROW} 的整数")
            elif barcodes and int(raw) != len(barcodes):
                problems.add(number, "条码", f"册数是{raw}，条码却有{len(barcodes)}个")
            else:
                copies = int(raw)
        if any(len(b) > 64 for b in barcodes):
            problems.add(number, "条码", "条码太长（最多64个字符）")
        # what does not fit its column is said, not cut: a shortened author is a wrong record
        for key, label, longest in TEXT_LIMITS:
            if len(get(cells, key)) > longest:
                problems.add(number, label, f"{label}太长（最多{longest}字）")
        tags = [t for t in _SPLIT.split(get(cells, "tags")) if t]
        if len(tags) > 10 or any(len(t) > 16 for t in tags):
            problems.add(number, "标签", "标签最多10个，每个最多16字")
        book_key = isbn or f"{title}|{get(cells, 'author')}"
        rows.append(
            Row(
                number=number,
                title=title,
                isbn=isbn,
                author=get(cells, "author"),
                publisher=get(cells, "publisher"),
                year=year,
                age_min=ages[0],
                age_max=ages[1],
                tags=tags,
                summary=get(cells, "summary"),
                barcodes=barcodes or [generated_barcode(book_key, n) for n in range(1, copies + 1)],
                location=get(cells, "location"),
                donated_by=get(cells, "donated_by"),
                generated=not barcodes and copies > 0,
            )
        )
    seen: dict[str, int] = {}
    for row in rows:
        for barcode in row.barcodes:
            if barcode in seen and seen[barcode] != row.number:
                problems.add(row.number, "条码", f"条码 {barcode} 与第{seen[barcode]}行重复")
            seen.setdefault(barcode, row.number)
    return rows, problems


# -- importing -----------------------------------------------------------------------------------


@dataclass
class Parsed:
    """A sheet read and its rows checked on their own, before any database work."""

    rows: list[Row]
    problems: Problems


def parse(data: bytes, kind: str) -> Parsed:
    """Read the file (CSV or XLSX) and check each row on its own; nothing here touches the
    database, so a caller may do it before opening a transaction. A file that cannot be read at
    all (too large, unreadable, too many rows) raises; row problems are collected."""
    rows, problems = check_rows(read_table(data, kind))
    return Parsed(rows=rows, problems=problems)


def _key(isbn: str | None, title: str, author: str) -> str:
    return isbn or f"{title}|{author}"


@dataclass
class _Catalogue:
    """The community's books by their import key and its barcodes (with their book), and the
    file's problems including barcodes that belong to another book already."""

    books: dict[str, Book]
    existing: dict[str, int]
    problems: Problems


async def _against_catalogue(session: AsyncSession, community_id: int, parsed: Parsed) -> _Catalogue:
    books = {
        _key(b.isbn, b.title, b.author): b
        for b in (await session.execute(select(Book).where(Book.community_id == community_id))).scalars()
    }
    existing = {
        barcode: book_id
        for barcode, book_id in (
            await session.execute(
                select(BookCopy.barcode, BookCopy.book_id).where(BookCopy.community_id == community_id)
            )
        ).all()
    }
    problems = Problems(items=list(parsed.problems.items))
    for row in parsed.rows:
        book = books.get(_key(row.isbn, row.title, row.author))
        for barcode in row.barcodes:
            if barcode in existing and (book is None or existing[barcode] != book.id):
                problems.add(row.number, "条码", f"条码 {barcode} 已贴在书目里的另一本书上")
    return _Catalogue(books=books, existing=existing, problems=problems)


def _empty_summary(rows: int) -> dict[str, int]:
    return {"rows": rows, "books_created": 0, "books_existing": 0, "copies_created": 0, "copies_existing": 0}


def _refused(problems: Problems) -> Unprocessable:
    return Unprocessable(
        "import_invalid",
        f"有{len(problems.items)}处需要修改，修改后请重新导入（本次没有导入任何内容）",
        details=problems.items,
    )


async def preview_catalogue(session: AsyncSession, user: User, community_id: int, parsed: Parsed) -> dict[str, Any]:
    """Staff: what importing this sheet would do, writing nothing. The same checks as
    `import_catalogue` (each row, and barcodes already on another book); every row as it would be
    imported — a new or an existing book, its new and already known copies; the problems with row
    and column; and the counts an import would report now. `ready` when there is nothing to fix."""
    await require_staff(session, user, community_id)
    catalogue = await _against_catalogue(session, community_id, parsed)
    wrong = {p["row"] for p in catalogue.problems.items}
    keys = set(catalogue.books)
    barcodes = set(catalogue.existing)
    summary = _empty_summary(len(parsed.rows))
    rows: list[dict[str, Any]] = []
    for row in parsed.rows:
        key = _key(row.isbn, row.title, row.author)
        new_book = key not in keys
        keys.add(key)
        summary["books_created" if new_book else "books_existing"] += 1
        known = [b for b in row.barcodes if b in barcodes]
        barcodes.update(row.barcodes)
        summary["copies_created"] += len(row.barcodes) - len(known)
        summary["copies_existing"] += len(known)
        rows.append(
            {
                "row": row.number,
                "title": row.title,
                "author": row.author,
                "isbn": row.isbn,
                "year": row.year,
                "age_min": row.age_min,
                "age_max": row.age_max,
                "tags": row.tags,
                "barcodes": row.barcodes,
                "barcodes_generated": row.generated,
                "book": "new" if new_book else "existing",
                "copies_new": len(row.barcodes) - len(known),
                "copies_existing": len(known),
                "has_problem": row.number in wrong,
            }
        )
    problems = catalogue.problems.items
    return {"ready": not problems, "rows": rows, "problems": problems, "summary": summary}


async def import_catalogue(
    session: AsyncSession, user: User, community_id: int, data: bytes, kind: str
) -> dict[str, Any]:
    """Check every row, then import the whole file in this transaction, or nothing."""
    await require_staff(session, user, community_id)
    return await _import(session, community_id, parse(data, kind))


async def import_parsed(session: AsyncSession, user: User, community_id: int, parsed: Parsed) -> dict[str, Any]:
    """Staff: import a parsed sheet whole, in this transaction, or nothing when any row has a
    problem (422 `import_invalid` with every problem). Books are matched by ISBN (or title and
    author) and copies by barcode, so the same sheet again changes nothing."""
    await require_staff(session, user, community_id)
    return await _import(session, community_id, parsed)


async def _import(session: AsyncSession, community_id: int, parsed: Parsed) -> dict[str, Any]:
    catalogue = await _against_catalogue(session, community_id, parsed)
    if catalogue.problems.items:
        raise _refused(catalogue.problems)
    books, existing = catalogue.books, catalogue.existing
    summary = _empty_summary(len(parsed.rows))
    for row in parsed.rows:
        key = _key(row.isbn, row.title, row.author)
        book = books.get(key)
        if book is None:
            book = Book(
                community_id=community_id,
                title=row.title,
                isbn=row.isbn,
                author=row.author,
                publisher=row.publisher,
                year=row.year,
                age_min=row.age_min,
                age_max=row.age_max,
                tags=row.tags,
                summary=row.summary,
            )
            session.add(book)
            await session.flush()
            books[key] = book
            summary["books_created"] += 1
        else:
            summary["books_existing"] += 1
        for barcode in row.barcodes:
            if barcode in existing:
                summary["copies_existing"] += 1
                continue
            session.add(
                BookCopy(
                    book_id=book.id,
                    community_id=community_id,
                    barcode=barcode,
                    location=row.location,
                    donated_by=row.donated_by,
                    state="available",
                )
            )
            existing[barcode] = book.id
            summary["copies_created"] += 1
    await session.flush()
    return summary
