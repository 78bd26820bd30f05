"""Request-scoped dependencies: the session (one transaction per request), the caller,
Idempotency-Key handling and pagination parameters.

Every dependency here is `async def`, even where it awaits nothing: FastAPI runs a plain `def`
dependency (and a class used as one) in the threadpool, a thread hop per call on every request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Path, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from api import localtime
from api.config import Settings
from api.db.models import User
from api.db.session import Database
from api.errors import Unauthorized
from api.pagination import MAX_ID
from api.security import TokenClaims, verify_access_token
from api.services import idempotency, zones
from api.wechat.client import WeChatClient

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
F = TypeVar("F", bound=Callable[..., Any])

# an id in a path: out of a 64-bit column's range is a 422, never a database error
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_wechat(request: Request) -> WeChatClient:
    client: WeChatClient = request.app.state.wechat
    return client


def writes(endpoint: F) -> F:
    """Mark a GET endpoint that may write (e.g. records the certificate it hands out), so that it
    gets a writer's transaction: on SQLite a reader cannot become a writer under load."""
    endpoint.__dict__["linli_writes"] = True
    return endpoint


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed when the handler returns and before the response is
    sent (scope="function"), rolled back on any error."""
    db: Database = request.app.state.db
    endpoint = request.scope.get("endpoint")
    write = request.method not in READ_METHODS or getattr(endpoint, "linli_writes", False)
    async with db.session(write=write) as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        await session.commit()


SettingsDep = Annotated[Settings, Depends(get_settings)]
WeChatDep = Annotated[WeChatClient, Depends(get_wechat)]
DatabaseDep = Annotated[Database, Depends(get_database)]
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_token_claims(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> TokenClaims:
    """The verified bearer token, without touching the database (the settings taken straight from
    the app: one dependency less to solve on every authenticated request)."""
    if not authorization:
        raise Unauthorized("not_authenticated", "请先登录")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("not_authenticated", "请使用 Bearer 登录凭证")
    settings: Settings = request.app.state.settings
    return verify_access_token(settings, token.strip())


TokenClaimsDep = Annotated[TokenClaims, Depends(get_token_claims)]


# built once: `session.get` would build its statement again on every request (the identity map it
# looks in first is empty at the start of a request)
_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))


async def get_current_user(session: SessionDep, claims: TokenClaimsDep) -> User:
    user = (await session.execute(_USER_BY_ID, {"user_id": claims.user_id})).scalar_one_or_none()
    if user is None:
        raise Unauthorized("token_invalid", "登录凭证无效，请重新登录")
    return user


CurrentUser = Annotated[User, Depends(get_current_user, scope="function")]


class Idempotency:
    """Handed to a POST route. `respond()` stores the answer with the request's transaction."""

    def __init__(
        self, session: AsyncSession, user: User, key: str | None, request: Request, print_: str, ttl: timedelta
    ) -> None:
        self.session = session
        self.user = user
        self.key = key
        self.request = request
        self.print_ = print_
        self.ttl = ttl

    async def respond(self, body: Any, status_code: int = 201, *, replay: Any = None) -> JSONResponse:
        """Answer `body`, and keep it for a retry with the same key; or keep `replay` instead, where
        the answer holds what must not be stored next to the caller (a secret ballot's receipt)."""
        content = jsonable_encoder(body)
        if self.key is not None:
            await idempotency.save(
                self.session,
                user_id=self.user.id,
                key=self.key,
                method=self.request.method,
                path=self.request.url.path,
                print_=self.print_,
                status_code=status_code,
                body=content if replay is None else jsonable_encoder(replay),
                ttl=self.ttl,
            )
        return JSONResponse(content, status_code=status_code)


# documented here, checked by idempotency.validate_key (its own error code)
KEY_SCHEMA: dict[str, Any] = {"minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"}
# the header as a route takes it (the plain one: its fingerprint covers the body)
KeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="重试安全：同一 key 的重试返回第一次的结果（24 小时内有效）；1–255 个可打印 ASCII 字符（如 UUID）",
        json_schema_extra=KEY_SCHEMA,
    ),
]


async def _claim(
    request: Request, session: AsyncSession, user: User, settings: Settings, key: str | None, body: bytes | None
) -> Idempotency:
    """Claim `key` for this request (or replay its first answer): the fingerprint covers the method,
    the path and `body` (None: the body is not looked at)."""
    print_ = ""
    if key is not None:
        print_ = idempotency.fingerprint(request.method, request.url.path, body if body is not None else b"")
        await idempotency.begin(session, user.id, key, print_)
    return Idempotency(session, user, key, request, print_, timedelta(hours=settings.idempotency_ttl_hours))


async def get_idempotency(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    idempotency_key: KeyHeader = None,
) -> Idempotency:
    return await _claim(request, session, user, settings, idempotency_key, await request.body())


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency, scope="function")]


async def get_blind_idempotency(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    settings: SettingsDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            description=(
                "重试安全：同一 key 的重试返回第一次的结果（24 小时内有效）；1–255 个可打印 ASCII 字符（如 UUID）。"
                "为了不在服务器上留下所选内容的痕迹，这里只记方法和路径，不核对请求内容：同一 key 换了内容再发，"
                "返回的仍是第一次的结果，不会报 idempotency_key_mismatch——换了内容请换一个 key"
            ),
            json_schema_extra=KEY_SCHEMA,
        ),
    ] = None,
) -> Idempotency:
    """Idempotency for a vote or a questionnaire (a secret ballot, an anonymous response): what the
    server keeps for the key (the user, the time, the fingerprint, the answer) must say nothing of
    the choices, so the fingerprint covers only the method and the path — a hash of the body would
    give the choice away, there being few bodies to try. A retry replays the first answer; a
    different body under the same key is not detected (it replays the first answer too). The route
    keeps no choice in its answer either (`respond(..., replay=...)` where it must)."""
    return await _claim(request, session, user, settings, idempotency_key, None)


BlindIdempotencyDep = Annotated[Idempotency, Depends(get_blind_idempotency, scope="function")]


async def get_idempotency_key(
    idempotency_key: KeyHeader = None,
) -> str | None:
    """The Idempotency-Key alone, checked, for a route that keeps its answer itself (a booking:
    the batch that writes it stores the key in the same transaction)."""
    if idempotency_key is not None:
        idempotency.validate_key(idempotency_key)
    return idempotency_key


IdempotencyKeyDep = Annotated[str | None, Depends(get_idempotency_key)]


class PageParams:
    def __init__(self, cursor: str | None = None, limit: int = 20) -> None:
        self.cursor = cursor
        self.limit = limit


async def get_page(
    cursor: Annotated[str | None, Query(max_length=512, description="上一页返回的 next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> PageParams:
    return PageParams(cursor, limit)


PageDep = Annotated[PageParams, Depends(get_page)]


# -- local times --------------------------------------------------------------------------------
# A route whose body carries datetimes depends on one of these: they run before the body is read,
# so that a datetime sent without an offset ("2026-12-05T14:00", as date pickers send it) is read
# in the community's own time. Elsewhere such a datetime is refused with a clear message.


def _read_in(zone: str | None) -> None:
    if zone is not None:
        localtime.read_naive_in(localtime.zone_of(zone))


async def _community_zone(community_id: IdPath, session: SessionDep) -> None:
    _read_in(await zones.community_zone(session, community_id))


async def _activity_zone(activity_id: IdPath, session: SessionDep) -> None:
    _read_in(await zones.zone_of(session, "activity", activity_id))


async def _announcement_zone(announcement_id: IdPath, session: SessionDep) -> None:
    _read_in(await zones.zone_of(session, "announcement", announcement_id))


async def _record_zone(record_id: IdPath, session: SessionDep) -> None:
    _read_in(await zones.zone_of(session, "service_record", record_id))


async def _meeting_zone(meeting_id: IdPath, session: SessionDep) -> None:
    _read_in(await zones.zone_of(session, "meeting", meeting_id))


async def _concern_zone(concern_id: IdPath, session: SessionDep) -> None:
    _read_in(await zones.zone_of(session, "concern", concern_id))


# -- surveys
async def _survey_zone(survey_id: IdPath, session: SessionDep) -> None:
    _read_in(await zones.zone_of(session, "survey", survey_id))


# -- polls
async def _poll_zone(poll_id: IdPath, session: SessionDep) -> None:
    _read_in(await zones.zone_of(session, "poll", poll_id))


CommunityTimes = Depends(_community_zone)
ActivityTimes = Depends(_activity_zone)
AnnouncementTimes = Depends(_announcement_zone)
RecordTimes = Depends(_record_zone)
MeetingTimes = Depends(_meeting_zone)
ConcernTimes = Depends(_concern_zone)
SurveyTimes = Depends(_survey_zone)
PollTimes = Depends(_poll_zone)
