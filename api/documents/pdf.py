"""PDFs with ReportLab: the volunteer certificate, an activity's sign-in sheet (签到表) and its
summary (活动总结).

All text is set in STSong-Light, one of the Adobe CJK fonts every PDF reader provides (ReportLab's
built-in CID font, `UnicodeCIDFont`): no font file is shipped or embedded, and the text stays
extractable and searchable. Text from users goes through `markup()` before it reaches a
`Paragraph`, whose input is ReportLab's XML-like markup. The documents are built with
`invariant=True` (no creation time, no random id), so the same content gives the same bytes.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from xml.sax.saxutils import escape

import segno
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Flowable, Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

CONTENT_TYPE = "application/pdf"
FONT = "STSong-Light"
PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 18 * mm
GRID = colors.HexColor("#444444")
SHADE = colors.HexColor("#EEEEEE")
MUTED = colors.HexColor("#666666")
PRODUCER = "Linli"

# control characters other than the line breaks: a name or a note could carry them
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NUMERALS = "一二三四五六七八九十"


@functools.cache
def font() -> str:
    """The CJK font's name, registered with ReportLab once."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def markup(text: str) -> str:
    """User text as `Paragraph` markup: &, < and > escaped (a "<b>" in a note stays a "<b>"),
    control characters dropped, line breaks kept."""
    return escape(_CONTROL.sub("", text)).replace("\r\n", "\n").replace("\r", "\n").replace("\n", "<br/>")


def _style(name: str, size: float, **extra: Any) -> ParagraphStyle:
    # wordWrap CJK: Chinese lines may break between any two characters
    settings: dict[str, Any] = {"leading": size * 1.5, "wordWrap": "CJK", **extra}
    return ParagraphStyle(name, fontName=font(), fontSize=size, **settings)


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(markup(text), style)


def _build(
    story: Callable[[], list[Flowable]],
    *,
    title: str,
    footer: str = "",
    margins: tuple[float, float] = (MARGIN, MARGIN),
    page_numbers: bool = True,
) -> bytes:
    """The document of the story's flowables on A4, with `footer` at the bottom left and 第 x / y 页
    at the bottom right of every page. Built twice when numbered: the first pass counts the pages."""
    side, top = margins

    def render(total: int) -> tuple[bytes, int]:
        pages = 0

        def on_page(canvas: Any, doc: Any) -> None:
            nonlocal pages
            pages = doc.page
            canvas.saveState()
            canvas.setFont(font(), 9)
            canvas.setFillColor(MUTED)
            if footer:
                canvas.drawString(side, 10 * mm, _CONTROL.sub("", footer)[:60])
            if page_numbers:
                canvas.drawRightString(PAGE_WIDTH - side, 10 * mm, f"第 {doc.page} / {total} 页")
            canvas.restoreState()

        out = io.BytesIO()
        doc = SimpleDocTemplate(
            out,
            pagesize=A4,
            leftMargin=side,
            rightMargin=side,
            topMargin=top,
            bottomMargin=MARGIN,
            title=title,
            author=PRODUCER,
            creator=PRODUCER,
            producer=PRODUCER,
            invariant=True,
            lang="zh-CN",
        )
        doc.build(story(), onFirstPage=on_page, onLaterPages=on_page)
        return out.getvalue(), pages

    data, pages = render(0)
    if page_numbers:
        data, _ = render(pages)
    return data


def _facts(pairs: Sequence[tuple[str, str]], width: float, style: ParagraphStyle) -> Table:
    """Label：value pairs two to a row, without lines (the heading block of a sheet)."""
    cells = [_para(f"{label}：{value}", style) for label, value in pairs]
    rows = [cells[i : i + 2] + [""] * (2 - len(cells[i : i + 2])) for i in range(0, len(cells), 2)]
    table = Table(rows, colWidths=[width / 2, width / 2], hAlign="LEFT")
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    return table


# -- the volunteer certificate -------------------------------------------------------------------


def _clipped(text: str, limit: int = 120) -> str:
    """At most `limit` characters (and 等 when cut), so that the certificate stays one page."""
    return text if len(text) <= limit else text[:limit] + "等"


def qr_png(text: str, scale: int = 10) -> bytes:
    """A QR code of the text as a black-and-white PNG (error correction M, a 2-module quiet zone)."""
    out = io.BytesIO()
    segno.make(text, error="m", micro=False).save(out, kind="png", scale=scale, border=2)
    return out.getvalue()


def certificate(
    *,
    name: str,
    hours: str,
    period_from: date,
    period_to: date,
    services: Sequence[str],
    organiser: str,
    number: str,
    check_url: str,
    issued_on: date,
) -> bytes:
    """The volunteer service certificate (志愿服务记录证明): who, how many approved hours, when,
    which services, recorded by whom; its number and the link to check it, also as a QR code."""
    title = _style("title", 24, alignment=TA_CENTER, leading=32)
    main = _style("main", 14, leading=24)
    note = _style("note", 11, leading=18)
    caption = _style("caption", 9, alignment=TA_CENTER, textColor=MUTED)
    service_text, organiser = _clipped("、".join(services)), _clipped(organiser)

    def story() -> list[Flowable]:
        side = 36 * mm
        code = Image(io.BytesIO(qr_png(check_url)), width=side, height=side)
        qr = Table([[code], [_para("微信扫码核验本证明", caption)]], colWidths=[side + 8 * mm], hAlign="RIGHT")
        qr.setStyle(TableStyle([("ALIGN", (0, 0), (-1, -1), "CENTER"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
        return [
            Spacer(1, 12 * mm),
            _para("志愿服务记录证明", title),
            Spacer(1, 14 * mm),
            _para(f"姓名：{name}", main),
            _para(f"志愿服务时长：{hours} 小时", main),
            _para(f"服务期间：{period_from.isoformat()} 至 {period_to.isoformat()}", main),
            _para(f"服务内容：{service_text}", main),
            _para(f"记录单位：{organiser}", main),
            Spacer(1, 10 * mm),
            _para(f"以上时长为{name}在上述期间经记录单位审核通过的志愿服务记录之和。", note),
            _para("本证明由邻里社区服务平台依据记录生成，免费出具；如需加盖公章，请向记录单位申请。", note),
            Spacer(1, 6 * mm),
            _para(f"证明编号：{number}", note),
            _para(f"核验：{check_url}", note),
            _para(f"生成日期：{issued_on.isoformat()}", note),
            Spacer(1, 8 * mm),
            qr,
        ]

    return _build(story, title="志愿服务记录证明", margins=(28 * mm, 24 * mm), page_numbers=False)


# -- the sign-in sheet ---------------------------------------------------------------------------

SIGNIN_COLUMNS = ("序号", "姓名", "户（楼栋单元）", "联系电话", "签到时间", "签名", "备注")


@dataclass
class SigninRow:
    """One attendee: the phone already masked by the caller; `checked_in` the time, or empty."""

    name: str
    household: str
    phone: str
    checked_in: str
    note: str = ""


@dataclass
class SigninSheet:
    community: str
    title: str
    when: str
    place: str
    project: str | None
    service_type: str | None
    rows: Sequence[SigninRow]
    blank_rows: int = 10  # numbered empty rows for walk-ins to sign
    organiser: str = ""


def signin_sheet(sheet: SigninSheet) -> bytes:
    """An A4 sign-in sheet (签到表) as evaluators ask for: the activity's title, time, place,
    project and service type; a table of 序号 / 姓名 / 户（楼栋单元） / 联系电话 / 签到时间 / 签名 /
    备注 with the attendees, then numbered empty rows for walk-ins; the header row repeated on every
    page; the count of those checked in; 制表 and the page numbers at the foot of each page."""
    width = PAGE_WIDTH - 2 * MARGIN
    heading = _style("heading", 18, alignment=TA_CENTER, leading=26)
    sub = _style("sub", 11, alignment=TA_CENTER, textColor=MUTED)
    fact = _style("fact", 10.5)
    cell = _style("cell", 9.5, leading=13)
    head = _style("head", 9.5, leading=13, alignment=TA_CENTER)
    # 序号 narrow, 签名 widest: a signature needs room
    shares = (0.07, 0.13, 0.17, 0.14, 0.11, 0.22, 0.16)
    checked = sum(1 for row in sheet.rows if row.checked_in.strip())

    def story() -> list[Flowable]:
        data: list[list[Any]] = [[_para(column, head) for column in SIGNIN_COLUMNS]]
        for number, row in enumerate(sheet.rows, start=1):
            data.append(
                [
                    str(number),
                    _para(row.name, cell),
                    _para(row.household, cell),
                    _para(row.phone, cell),
                    _para(row.checked_in, cell),
                    "",
                    _para(row.note, cell),
                ]
            )
        for number in range(len(sheet.rows) + 1, len(sheet.rows) + max(sheet.blank_rows, 0) + 1):
            data.append([str(number), "", "", "", "", "", ""])
        table = Table(data, colWidths=[width * share for share in shares], repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("FONT", (0, 0), (-1, -1), font(), 9.5),
                    ("GRID", (0, 0), (-1, -1), 0.6, GRID),
                    ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                    ("ALIGN", (0, 0), (0, -1), "CENTER"),
                    ("TOPPADDING", (0, 1), (-1, -1), 7),  # room to sign on every row
                    ("BOTTOMPADDING", (0, 1), (-1, -1), 7),
                ]
            )
        )
        total = f"已签到 {checked} 人"
        if checked != len(sheet.rows):
            total += f"（名单共 {len(sheet.rows)} 人）"
        return [
            _para(f"{sheet.title} 签到表", heading),
            _para(sheet.community, sub),
            Spacer(1, 4 * mm),
            _facts(
                [
                    ("活动时间", sheet.when),
                    ("活动地点", sheet.place),
                    ("所属项目", sheet.project or "无"),
                    ("服务类型", sheet.service_type or "未标注"),
                ],
                width,
                fact,
            ),
            Spacer(1, 3 * mm),
            table,
            Spacer(1, 4 * mm),
            _para(total + "；现场参加的居民请在空白行签名。", fact),
        ]

    return _build(story, title=f"{sheet.title} 签到表", footer=f"制表：{sheet.organiser or '＿＿＿＿＿＿'}")


# -- the activity summary ------------------------------------------------------------------------


@dataclass
class SummaryDoc:
    """An activity's summary: `sections` are (heading, text) in order (背景, 目标, 过程, 参与情况,
    成效, 反思), a text's lines its paragraphs; `figures` are (label, value) such as ("报名", "32")."""

    title: str
    when: str
    place: str
    project: str | None
    sections: Sequence[tuple[str, str]]
    figures: Sequence[tuple[str, str]]


def _numbered(index: int, heading: str) -> str:
    numeral = _NUMERALS[index] if index < 10 else str(index + 1)
    return f"{numeral}、{heading}"


def activity_summary(doc: SummaryDoc) -> bytes:
    """The activity summary (活动总结): title, time, place and project, a table of the figures, then
    the sections numbered 一、二、… with their paragraphs (an empty one says 未填写)."""
    width = PAGE_WIDTH - 2 * MARGIN
    heading = _style("heading", 18, alignment=TA_CENTER, leading=26)
    sub = _style("sub", 13, alignment=TA_CENTER, leading=20)
    fact = _style("fact", 10.5)
    section = _style("section", 13, leading=20, spaceBefore=8, spaceAfter=4)
    body = _style("body", 10.5, leading=18, firstLineIndent=21, alignment=TA_LEFT, spaceAfter=4)
    empty = _style("empty", 10.5, textColor=MUTED)
    cell = _style("cell", 10, leading=14)

    def story() -> list[Flowable]:
        flow: list[Flowable] = [
            _para("活动总结", heading),
            _para(doc.title, sub),
            Spacer(1, 4 * mm),
            _facts(
                [("活动时间", doc.when), ("活动地点", doc.place), ("所属项目", doc.project or "无")],
                width,
                fact,
            ),
        ]
        if doc.figures:
            rows: list[list[Any]] = [[_para("指标", cell), _para("数值", cell)]]
            rows += [[_para(label, cell), _para(value, cell)] for label, value in doc.figures]
            table = Table(rows, colWidths=[width * 0.4, width * 0.2], hAlign="LEFT", repeatRows=1)
            table.setStyle(
                TableStyle(
                    [
                        ("GRID", (0, 0), (-1, -1), 0.6, GRID),
                        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                    ]
                )
            )
            flow += [Spacer(1, 3 * mm), _para("活动数据", section), table]
        for index, (title, text) in enumerate(doc.sections):
            flow.append(_para(_numbered(index, title), section))
            paragraphs = [line.strip() for line in _CONTROL.sub("", text).splitlines() if line.strip()]
            flow += [_para(p, body) for p in paragraphs] or [_para("（未填写）", empty)]
        return flow

    return _build(story, title=f"{doc.title} 活动总结")
