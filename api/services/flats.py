"""Flats (专有部分): each household's floor area and whether it owns its flat (业主), which owners'
votes weighted by area count (Civil Code art. 278: area and headcount, one per flat).

Staff set both on one household (`update_flat`), or import them for many from a sheet (CSV or XLSX,
the catalogue importer's rules: every row checked first, every problem listed with its row and
column, the file imported whole or not at all). The sheet's columns: 楼栋, 单元, 房号, 面积(㎡),
业主(是/否) — Chinese or English headers, a note in brackets ignored ("面积（㎡）"). A row is matched
to a household by its address as the households service normalises it ("3栋 2单元 501室" is
"3|2|501"); an address the community has no household at becomes one — a flat nobody has joined
yet still counts in art. 278's denominators; whoever later joins there with WeChat waits for staff
to approve them, as at any address (nobody votes for a flat by typing its address), and the first
adult approved becomes its head (`households.approve_request`). Two rows for one address are
refused: the sheet would not say which is right. A blank area or owner cell leaves what is
recorded (a new household: no area, not an owner); households the sheet does not name are left
alone. Importing the same sheet again changes nothing (every row `unchanged`).

Who sees it: staff of the community on every household; a household's own active members on
theirs, read-only (they can check the figure an owners' vote will weigh them by, and object to
the roll while it is published). Nobody else: another household's file is not found.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import clock
from api.db.models import Household, User
from api.db.upsert import insert_ignore_many
from api.errors import Forbidden, invalid_field
from api.schemas.common import has_control
from api.services import households
from api.services.access import require_staff_hidden
from api.services.library.importer import Problems, _refused, read_table
from api.services.votes.common import area_text, parse_area

STAFF_ONLY = "只有社区工作人员可以登记房屋面积和业主"
AREA_INVALID = "面积应是大于 0 的数（㎡），最多两位小数，不超过 1000000，如 89.53"
OWNER_INVALID = "填“是”或“否”"
TEXT_MAX = 32  # households.building, unit and room
INSERT_CHUNK = 500  # rows per INSERT (SQLite takes at most 32,766 values in one statement)

COLUMNS = {
    "building": ("楼栋", "楼号", "栋号", "栋", "楼", "楼栋号", "building"),
    "unit": ("单元", "单元号", "unit"),
    "room": ("房号", "门牌", "门牌号", "房间号", "室号", "户号", "room"),
    "area": ("面积", "建筑面积", "专有部分面积", "房屋面积", "area", "floor_area"),
    "owner": ("业主", "是否业主", "owner", "is_owner"),
}
LABELS = {"building": "楼栋", "unit": "单元", "room": "房号", "area": "面积", "owner": "业主"}
YES = frozenset({"是", "业主", "y", "yes", "true", "1", "√", "✓", "✔"})
NO = frozenset({"否", "非业主", "租户", "n", "no", "false", "0", "×", "✗", "✘"})
_BRACKETED = re.compile(r"\(.*\)$")
_UNIT_SUFFIX = re.compile(r"(m2|平方米|平米)$", re.IGNORECASE)
# what a spreadsheet's floating point makes of a typed 89.53: 89.53000000000001, 89.52999999999999
_FLOAT_NOISE = re.compile(r"\d+\.\d{10,}")


# -- one household ---------------------------------------------------------------------------------


def area_centi(text: str) -> int | None:
    """Hundredths of ㎡ from an area as people write it ("89.53", "89.53㎡", "89.53 m²", "８９．５"),
    or None when it is not one (see `votes.common.parse_area`: more than two decimals are refused,
    not rounded — except a spreadsheet's floating-point noise, which is what was typed)."""
    cleaned = _UNIT_SUFFIX.sub("", unicodedata.normalize("NFKC", text).strip()).strip()
    centi = parse_area(cleaned)
    if centi is None and _FLOAT_NOISE.fullmatch(cleaned):
        try:
            value = Decimal(cleaned)
        except InvalidOperation:  # pragma: no cover - the pattern is a decimal
            return None
        rounded = value.quantize(Decimal("0.01"))
        if abs(value - rounded) < Decimal("0.000001"):
            centi = parse_area(str(rounded))
    return centi


async def update_flat(session: AsyncSession, user: User, household_id: int, fields: dict[str, Any]) -> Household:
    """Staff record a household's floor area (`floor_area`: text as people write it; None clears
    it) and whether it owns its flat (`is_owner`; None leaves it). A field not given is left. The
    household's own members are refused (403); anyone else who may not read it is told there is
    no such household (404), as when reading it."""
    household = await households.household_of(session, household_id)
    is_staff, _ = await households.authorise_household(session, user, household)
    if not is_staff:
        raise Forbidden("staff_only", STAFF_ONLY)
    if "floor_area" in fields:
        text = fields["floor_area"]
        centi = None if text is None or not str(text).strip() else area_centi(str(text))
        if centi is None and text is not None and str(text).strip():
            raise invalid_field("floor_area", AREA_INVALID, kind="floor_area_invalid")
        household.floor_area_centi = centi
    if fields.get("is_owner") is not None:
        household.is_owner = bool(fields["is_owner"])
    household.updated_at = clock.now()
    await session.flush()
    return household


# -- reading a sheet -------------------------------------------------------------------------------


@dataclass
class FlatRow:
    """One row of the sheet, checked on its own: the address (as written, and its key), the area
    in hundredths of ㎡ and the owner flag (None: the cell was blank, what is recorded stays)."""

    number: int
    building: str
    unit: str
    room: str
    key: str
    area: int | None
    owner: bool | None

    @property
    def address(self) -> str:
        return f"{self.building}{self.unit}{self.room}"


@dataclass
class Parsed:
    """A sheet read and its rows checked on their own, before any database work."""

    rows: list[FlatRow]
    problems: Problems


def _header_name(cell: str) -> str:
    text = re.sub(r"\s", "", unicodedata.normalize("NFKC", cell)).lower()
    return _BRACKETED.sub("", text) or text


def _header_map(header: list[str]) -> dict[str, int]:
    names = {alias.lower(): key for key, aliases in COLUMNS.items() for alias in aliases}
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        key = names.get(_header_name(cell))
        if key is not None and key not in found:
            found[key] = index
    return found


def _owner(text: str) -> bool | None:
    """是 / 否 (and the ways a sheet says them); None for anything else."""
    value = unicodedata.normalize("NFKC", text).strip().lower()
    return True if value in YES else False if value in NO else None


def _address_problems(problems: Problems, number: int, parts: dict[str, str]) -> None:
    """Each part of the address as the households service takes it: present (but the unit), one
    line, at most 32 characters as written and PART_MAX once normalised."""
    normalised = dict(zip(("building", "unit", "room"), households.address_parts(**parts), strict=True))
    for part, value in parts.items():
        label = LABELS[part]
        if not value and part != "unit":
            problems.add(number, label, f"{label}不能为空")
        elif has_control(value):
            problems.add(number, label, f"{label}不能含有换行或控制字符")
        elif len(value) > TEXT_MAX:
            problems.add(number, label, f"{label}太长（最多{TEXT_MAX}字）")
        elif len(normalised[part]) > households.PART_MAX:
            problems.add(number, label, f"{label}{households.PART_TOO_LONG}")


def check_rows(table: list[list[str]]) -> tuple[list[FlatRow], Problems]:
    problems = Problems()
    if not table or not any(c.strip() for c in table[0]):
        problems.add(1, "", "第一行应是表头（楼栋、单元、房号、面积、业主）")
        return [], problems
    columns = _header_map(table[0])
    for needed in ("building", "room"):
        if needed not in columns:
            problems.add(1, LABELS[needed], f"找不到“{LABELS[needed]}”一列")
    if "area" not in columns and "owner" not in columns:
        problems.add(1, "面积", "找不到“面积”或“业主”一列：表格至少要有其中一列")
    if problems.items:
        return [], problems

    def get(cells: list[str], key: str) -> str:
        index = columns.get(key)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    rows: list[FlatRow] = []
    seen: dict[str, int] = {}
    for number, cells in enumerate(table[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        parts = {"building": get(cells, "building"), "unit": get(cells, "unit"), "room": get(cells, "room")}
        before = len(problems.items)
        _address_problems(problems, number, parts)
        key = households.address_key(**parts)
        if len(problems.items) == before:
            if key in seen:
                problems.add(number, "房号", f"与第{seen[key]}行是同一户，每户只能有一行")
            else:
                seen[key] = number
        area: int | None = None
        if raw := get(cells, "area"):
            area = area_centi(raw)
            if area is None:
                problems.add(number, "面积", AREA_INVALID)
        owner: bool | None = None
        if raw := get(cells, "owner"):
            owner = _owner(raw)
            if owner is None:
                problems.add(number, "业主", OWNER_INVALID)
        rows.append(FlatRow(number=number, **parts, key=key, area=area, owner=owner))
    return rows, problems


def parse(data: bytes, kind: str) -> Parsed:
    """Read the file (CSV or XLSX, with the catalogue importer's reader and limits) and check each
    row on its own; nothing here touches the database. A file that cannot be read at all raises;
    row problems are collected."""
    rows, problems = check_rows(read_table(data, kind))
    return Parsed(rows=rows, problems=problems)


# -- previewing and importing ----------------------------------------------------------------------


@dataclass
class _Plan:
    """What each row would do to the community's households as they are now."""

    rows: list[dict[str, Any]]
    summary: dict[str, int]


async def _known(session: AsyncSession, community_id: int, keys: list[str]) -> dict[str, Household]:
    found: dict[str, Household] = {}
    for start in range(0, len(keys), INSERT_CHUNK):
        chunk = keys[start : start + INSERT_CHUNK]
        query = select(Household).where(Household.community_id == community_id, Household.address_key.in_(chunk))
        found.update({h.address_key: h for h in (await session.execute(query)).scalars()})
    return found


def _plan(parsed: Parsed, known: dict[str, Household]) -> _Plan:
    wrong = {p["row"] for p in parsed.problems.items}
    summary = {"rows": len(parsed.rows), "created": 0, "updated": 0, "unchanged": 0, "owners_without_area": 0}
    rows = []
    for row in parsed.rows:
        household = known.get(row.key)
        area_before = household.floor_area_centi if household is not None else None
        owner_before = household.is_owner if household is not None else False
        area = row.area if row.area is not None else area_before
        owner = row.owner if row.owner is not None else owner_before
        if household is None:
            action = "create"
        elif (area, owner) != (area_before, owner_before):
            action = "update"
        else:
            action = "unchanged"
        summary[{"create": "created", "update": "updated", "unchanged": "unchanged"}[action]] += 1
        summary["owners_without_area"] += owner and area is None
        rows.append(
            {
                "row": row.number,
                "address": households.address_text(household) if household is not None else row.address,
                "household_id": household.id if household is not None else None,
                "action": action,
                "floor_area": area_text(area) or None,
                "floor_area_before": area_text(area_before) or None,
                "is_owner": owner,
                "is_owner_before": owner_before if household is not None else None,
                "owner_without_area": owner and area is None,
                "has_problem": row.number in wrong,
            }
        )
    return _Plan(rows=rows, summary=summary)


async def preview_flats(session: AsyncSession, user: User, community_id: int, parsed: Parsed) -> dict[str, Any]:
    """Staff: what importing this sheet would do, writing nothing: every row as it would be
    imported (a new household, an update with the figures before and after, or unchanged), the
    problems with row and column, and the counts an import would report now — with how many owner
    households would still have no area (an owners' vote by area cannot open with them). `ready`
    when there is nothing to fix."""
    await require_staff_hidden(session, user, community_id, STAFF_ONLY)
    plan = _plan(parsed, await _known(session, community_id, [r.key for r in parsed.rows]))
    problems = parsed.problems.items
    return {"ready": not problems, "rows": plan.rows, "problems": problems, "summary": plan.summary}


async def preview_file(session: AsyncSession, user: User, community_id: int, data: bytes, kind: str) -> dict[str, Any]:
    """`preview_flats` of a file (the API): the caller is checked before the file is read."""
    await require_staff_hidden(session, user, community_id, STAFF_ONLY)
    return await preview_flats(session, user, community_id, await asyncio.to_thread(parse, data, kind))


async def import_file(session: AsyncSession, user: User, community_id: int, data: bytes, kind: str) -> dict[str, int]:
    """`import_flats` of a file (the API): the caller is checked before the file is read."""
    await require_staff_hidden(session, user, community_id, STAFF_ONLY)
    return await import_flats(session, user, community_id, await asyncio.to_thread(parse, data, kind))


async def import_flats(session: AsyncSession, user: User, community_id: int, parsed: Parsed) -> dict[str, int]:
    """Staff: import a checked sheet whole, in this transaction, or nothing when any row has a
    problem (422 `import_invalid` with every problem, row and column). Unknown addresses become
    households; known ones get the sheet's area and owner flag. The counts: rows, created,
    updated, unchanged, owners_without_area."""
    await require_staff_hidden(session, user, community_id, STAFF_ONLY)
    if parsed.problems.items:
        raise _refused(parsed.problems)
    known = await _known(session, community_id, [r.key for r in parsed.rows])
    now = clock.now()
    # inserted in the order of their keys, as by every import: two at once wait for each other's
    # addresses in one order, never in a circle (a deadlock)
    new = sorted((r for r in parsed.rows if r.key not in known), key=lambda r: r.key)
    created: set[str] = set()
    for start in range(0, len(new), INSERT_CHUNK):
        values = [
            {
                "community_id": community_id,
                "building": r.building,
                "unit": r.unit,
                "room": r.room,
                "address_key": r.key,
                "floor_area_centi": r.area,
                "is_owner": bool(r.owner),
                "created_at": now,
                "updated_at": now,
            }
            for r in new[start : start + INSERT_CHUNK]
        ]
        inserted = await insert_ignore_many(
            session, Household, values, ["community_id", "address_key"], returning=[Household.address_key]
        )
        created.update(key for (key,) in inserted)
    # an address someone joined at meanwhile is a household now: the sheet updates it
    late = [r.key for r in new if r.key not in created]
    if late:
        known.update(await _known(session, community_id, late))
    summary = {"rows": len(parsed.rows), "created": len(created), "updated": 0, "unchanged": 0}
    missing_area = sum(1 for r in new if r.key in created and r.owner and r.area is None)
    for row in parsed.rows:
        if row.key in created:
            continue
        household = known[row.key]
        area = row.area if row.area is not None else household.floor_area_centi
        owner = row.owner if row.owner is not None else household.is_owner
        missing_area += owner and area is None
        if (area, owner) == (household.floor_area_centi, household.is_owner):
            summary["unchanged"] += 1
            continue
        household.floor_area_centi, household.is_owner, household.updated_at = area, owner, now
        summary["updated"] += 1
    await session.flush()
    return {**summary, "owners_without_area": missing_area}
