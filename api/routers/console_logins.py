"""The phone's side of signing in to the staff console by scanning, and the console sessions a
person may see and end from the phone."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from api.db.models import ConsoleLoginTicket
from api.deps import CurrentUser, IdPath, SessionDep, SettingsDep
from api.schemas.console import ConsoleSessionRead, LoginTicketRead
from api.services import console_auth

router = APIRouter(tags=["console"])

TicketPath = Annotated[
    str, Path(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$", description="电脑上二维码的 scene")
]


def browser_summary(user_agent: str) -> str:
    """A short name for a User-Agent, for a person to recognise their own computer."""
    ua = user_agent
    name = next(
        (
            label
            for key, label in (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
            if key in ua
        ),
        "浏览器",
    )
    system = next(
        (
            label
            for key, label in (
                ("Windows", "Windows"),
                ("Mac OS", "macOS"),
                ("Android", "Android"),
                ("iPad", "iPad"),
                ("Linux", "Linux"),
            )
            if key in ua
        ),
        "",
    )
    return f"{name}（{system}）" if system else name


def _ticket(ticket: ConsoleLoginTicket) -> LoginTicketRead:
    return LoginTicketRead(
        state=console_auth.ticket_state(ticket),
        expires_at=ticket.expires_at,
        ip=ticket.ip,
        browser=browser_summary(ticket.user_agent),
    )


@router.post(
    "/console-logins/{ticket}/scan",
    response_model=LoginTicketRead,
    summary="小程序扫描了工作台的登录二维码",
    description=(
        "小程序 pages/weblogin/index 从 scene 取得 ticket 后调用；返回请求登录的电脑（地址和浏览器），"
        "请让本人确认。只有社区工作人员或管理员可以扫码登录工作台。"
    ),
)
async def scan(ticket: TicketPath, user: CurrentUser, session: SessionDep) -> LoginTicketRead:
    return _ticket(await console_auth.scan(session, user, ticket))


@router.post("/console-logins/{ticket}/confirm", response_model=LoginTicketRead, summary="确认在这台电脑上登录工作台")
async def confirm(ticket: TicketPath, user: CurrentUser, session: SessionDep) -> LoginTicketRead:
    return _ticket(await console_auth.decide(session, user, ticket, confirm=True))


@router.post("/console-logins/{ticket}/reject", response_model=LoginTicketRead, summary="拒绝这次工作台登录")
async def reject(ticket: TicketPath, user: CurrentUser, session: SessionDep) -> LoginTicketRead:
    return _ticket(await console_auth.decide(session, user, ticket, confirm=False))


@router.get("/me/console-sessions", response_model=list[ConsoleSessionRead], summary="我在电脑上登录的工作台")
async def my_sessions(user: CurrentUser, session: SessionDep, settings: SettingsDep) -> list[ConsoleSessionRead]:
    rows = await console_auth.list_sessions(session, settings, user)
    return [
        ConsoleSessionRead(
            id=row["id"],
            ip=row["ip"],
            browser=browser_summary(row["user_agent"]),
            created_at=row["created_at"],
            last_seen_at=row["last_seen_at"],
            expires_at=row["expires_at"],
        )
        for row in rows
    ]


@router.delete("/me/console-sessions/{session_id}", status_code=204, summary="退出某台电脑上的工作台")
async def revoke_session(session_id: IdPath, user: CurrentUser, session: SessionDep) -> Response:
    await console_auth.revoke(session, user, session_id)
    return Response(status_code=204)
