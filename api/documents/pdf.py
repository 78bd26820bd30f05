# STAND-IN: replaced at merge — a minimal version of the documents helper's module, only what the
# record book calls (signin_sheet, activity_summary and their dataclasses), so that its tests run.
"""PDFs with ReportLab's built-in STSong-Light CID font (nothing embedded, text extractable)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from reportlab.lib.pagesizes import A4  # type: ignore[import-untyped]
from reportlab.pdfbase import pdfmetrics  # type: ignore[import-untyped]
from reportlab.pdfbase.cidfonts import UnicodeCIDFont  # type: ignore[import-untyped]
from reportlab.pdfgen import canvas  # type: ignore[import-untyped]

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))


@dataclass(frozen=True)
class SigninRow:
    name: str
    household: str
    phone: str
    checked_in: str
    note: str = ""


@dataclass(frozen=True)
class SigninSheet:
    community: str
    title: str
    when: str
    place: str
    project: str
    service_type: str
    rows: list[SigninRow]
    blank_rows: int = 10
    organiser: str = ""


@dataclass(frozen=True)
class SummaryDoc:
    title: str
    when: str
    place: str
    project: str
    sections: list[tuple[str, str]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)


class _Writer:
    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.canvas = canvas.Canvas(self.buffer, pagesize=A4)
        self.y = A4[1] - 60

    def line(self, text: str, size: float = 11) -> None:
        if self.y < 60:
            self.canvas.showPage()
            self.y = A4[1] - 60
        self.canvas.setFont(FONT, size)
        self.canvas.drawString(50, self.y, text)
        self.y -= size + 8

    def done(self) -> bytes:
        self.canvas.showPage()
        self.canvas.save()
        return self.buffer.getvalue()


def signin_sheet(sheet: SigninSheet) -> bytes:
    out = _Writer()
    out.line(sheet.community, 12)
    out.line(f"{sheet.title} 签到表", 16)
    for value in (sheet.when, sheet.place, sheet.project, sheet.service_type, sheet.organiser):
        if value:
            out.line(value)
    for n, row in enumerate(sheet.rows, start=1):
        out.line("  ".join(str(v) for v in (n, row.name, row.household, row.phone, row.checked_in, row.note) if v))
    for n in range(len(sheet.rows) + 1, len(sheet.rows) + sheet.blank_rows + 1):
        out.line(f"{n}")
    return out.done()


def activity_summary(doc: SummaryDoc) -> bytes:
    out = _Writer()
    out.line(f"{doc.title} 活动总结", 16)
    for value in (doc.when, doc.place, doc.project):
        if value:
            out.line(value)
    for name, figure in doc.figures:
        out.line(f"{name} {figure}")
    for label, text in doc.sections:
        out.line(label, 13)
        for part in (text or "").splitlines() or ["未填写"]:
            out.line(part)
    return out.done()
