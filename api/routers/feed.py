from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.datastructures import UploadFile

from api.db.models.activities import CATEGORIES
from api.deps import (
    CurrentUser,
    DatabaseDep,
    IdempotencyDep,
    IdPath,
    PageDep,
    SessionDep,
    SettingsDep,
    TokenClaimsDep,
    writes,
)
from api.errors import AppError, Unprocessable
from api.pagination import MAX_ID
from api.schemas.feed import (
    ActivityLoop,
    AlbumPage,
    CommentCreate,
    CommentRead,
    CommunityLoop,
    Decision,
    FeedPage,
    GrowthAlbumPage,
    HideRequest,
    MediaRead,
    ModerationQueue,
    PostCreate,
    PostRead,
    PostUpdate,
    ReportCreate,
    ShareCreate,
    ShareOpened,
    ShareRead,
)
from api.services.feed import callback, follows, loop, media, posts, reactions, reading, shares

router = APIRouter(tags=["feed"])
public = APIRouter(tags=["feed"])
MULTIPART_OVERHEAD = 64 * 1024
PUSH_MAX_BYTES = 64 * 1024  # a content-security push is well under 2 KB


async def _bounded_body(
    request: Request, limit: int, code: str = "image_too_large", message: str = "照片太大了"
) -> None:
    """Read the request body, refusing it (413) as soon as it passes `limit`: a photo too large is
    never spooled whole."""
    declared = request.headers.get("content-length", "")
    if declared.isdecimal() and int(declared) > limit:
        raise AppError(code, message, status=413, details={"max_bytes": limit})
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise AppError(code, message, status=413, details={"max_bytes": limit})
        chunks.append(chunk)
    request._body = b"".join(chunks)  # what Starlette's form parser reads


@dataclass(frozen=True)
class Upload:
    data: bytes
    community_id: int
    content_type: str | None


async def read_upload(request: Request, settings: SettingsDep, _claims: TokenClaimsDep) -> Upload:
    """The photo, read before any database work: a slow phone's upload holds no connection or
    transaction. The token is checked first (without the database), so strangers are not read."""
    await _bounded_body(request, settings.media_max_bytes + MULTIPART_OVERHEAD)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise AppError("multipart_required", "请用 multipart/form-data 上传（小程序 wx.uploadFile）", status=415)
    form = await request.form(max_files=1, max_fields=4)
    file, community = form.get("file"), form.get("community_id")
    if not isinstance(file, UploadFile):
        raise Unprocessable("file_missing", "没有收到照片（file）")
    if (
        not isinstance(community, str)
        or not re.fullmatch(r"[0-9]{1,19}", community)
        or not 1 <= int(community) <= MAX_ID
    ):
        raise Unprocessable("community_id_invalid", "community_id 不正确")
    return Upload(data=await file.read(), community_id=int(community), content_type=file.content_type)


@router.post(
    "/media",
    response_model=MediaRead,
    status_code=202,
    summary="上传照片（multipart：file、community_id）",
    description="按文件内容判断类型（JPEG、PNG、WebP）；超过大小或像素上限即拒绝，什么都不保存。"
    "每人每 10 分钟最多 30 张（可配置），再传返回 429 too_many_uploads 和 Retry-After，同样什么都不保存。"
    "去除 EXIF（含位置）和生成缩略图在后台进行，完成后 status 变为 checking/approved。",
    openapi_extra={
        "requestBody": {
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "community_id"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "community_id": {"type": "integer"},
                        },
                    }
                }
            }
        }
    },
)
async def upload_media(
    upload: Annotated[Upload, Depends(read_upload)], user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    # `upload` comes first: FastAPI resolves dependencies in order, so the body is in before the
    # session (and, on SQLite, the writer's lock) is taken
    view = await media.upload(session, user, upload.community_id, upload.data, upload.content_type)
    return await idem.respond(MediaRead(**view), 202)


@router.get("/media/{media_id}", response_model=MediaRead, summary="照片的处理状态（上传者和社工）")
async def get_media(media_id: IdPath, user: CurrentUser, session: SessionDep) -> MediaRead:
    return MediaRead(**await media.get_media(session, user, media_id))


@public.get(
    "/media/files/{key:path}",
    summary="照片文件（本地存储；链接带签名和有效期，无需登录）",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}},
)
async def media_file(
    key: Annotated[str, Path(max_length=300)],
    db: DatabaseDep,
    exp: Annotated[int, Query(ge=0, le=2**40)],
    sig: Annotated[str, Query(max_length=128)],
) -> Response:
    data, content_type, left = await media.served_file(db.storage, key, exp, sig)
    return Response(
        data,
        media_type=content_type,
        headers={"Cache-Control": f"private, max-age={left}, immutable", "X-Content-Type-Options": "nosniff"},
    )


# -- posts -----------------------------------------------------------------------------------------


async def _post_view(session: Any, user: Any, post_id: int) -> PostRead:
    return PostRead(**await reading.post_detail(session, user, post_id))


@router.post("/communities/{community_id}/posts", response_model=PostRead, status_code=201, summary="发动态")
async def create_post(
    community_id: IdPath, body: PostCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    post = await posts.create_post(session, user, community_id, body.model_dump())
    return await idem.respond(await _post_view(session, user, post.id))


@router.get("/communities/{community_id}/feed", response_model=FeedPage, summary="社区动态（最新在前）")
async def feed(community_id: IdPath, user: CurrentUser, session: SessionDep, page: PageDep) -> FeedPage:
    return FeedPage(**await reading.feed(session, user, community_id, page.cursor, page.limit))


@router.get("/posts/{post_id}", response_model=PostRead, summary="动态详情")
async def get_post(post_id: IdPath, user: CurrentUser, session: SessionDep) -> PostRead:
    return await _post_view(session, user, post_id)


@router.patch("/posts/{post_id}", response_model=PostRead, summary="置顶（社工）或标记有孩子")
async def update_post(post_id: IdPath, body: PostUpdate, user: CurrentUser, session: SessionDep) -> PostRead:
    await posts.update_post(session, user, post_id, body.model_dump(exclude_none=True))
    return await _post_view(session, user, post_id)


@router.post("/posts/{post_id}/moderate", response_model=PostRead, summary="审核动态（社工）")
async def moderate_post(post_id: IdPath, body: Decision, user: CurrentUser, session: SessionDep) -> PostRead:
    await posts.moderate(session, user, post_id, body.approve, body.note)
    return await _post_view(session, user, post_id)


@router.post("/posts/{post_id}/hide", response_model=PostRead, summary="下架动态（社工）")
async def hide_post(post_id: IdPath, body: HideRequest, user: CurrentUser, session: SessionDep) -> PostRead:
    await posts.hide(session, user, post_id, body.note)
    return await _post_view(session, user, post_id)


@router.post("/posts/{post_id}/like", response_model=PostRead, summary="点赞（重复点赞不变）")
async def like(post_id: IdPath, user: CurrentUser, session: SessionDep) -> PostRead:
    await reactions.like(session, user, post_id, True)
    return await _post_view(session, user, post_id)


@router.delete("/posts/{post_id}/like", response_model=PostRead, summary="取消点赞")
async def unlike(post_id: IdPath, user: CurrentUser, session: SessionDep) -> PostRead:
    await reactions.like(session, user, post_id, False)
    return await _post_view(session, user, post_id)


@router.post("/posts/{post_id}/comments", response_model=CommentRead, status_code=201, summary="评论（审核后可见）")
async def add_comment(
    post_id: IdPath, body: CommentCreate, user: CurrentUser, session: SessionDep, idem: IdempotencyDep
) -> JSONResponse:
    return await idem.respond(CommentRead(**await reactions.add_comment(session, user, post_id, body.body)))


@router.get("/posts/{post_id}/comments", response_model=list[CommentRead], summary="评论")
async def list_comments(post_id: IdPath, user: CurrentUser, session: SessionDep) -> list[CommentRead]:
    return [CommentRead(**c) for c in await reactions.comments(session, user, post_id)]


@router.post("/comments/{comment_id}/moderate", response_model=CommentRead, summary="审核评论（社工）")
async def moderate_comment(comment_id: IdPath, body: Decision, user: CurrentUser, session: SessionDep) -> CommentRead:
    return CommentRead(**await posts.moderate_comment(session, user, comment_id, body.approve))


@router.post("/posts/{post_id}/report", status_code=204, summary="举报（重复举报只算一次）")
async def report(post_id: IdPath, body: ReportCreate, user: CurrentUser, session: SessionDep) -> Response:
    await reactions.report(session, user, post_id, body.reason)
    return Response(status_code=204)


@router.get("/communities/{community_id}/moderation", response_model=ModerationQueue, summary="待审核（社工）")
async def moderation(community_id: IdPath, user: CurrentUser, session: SessionDep) -> ModerationQueue:
    return ModerationQueue(**await posts.moderation_queue(session, user, community_id))


@router.get("/activities/{activity_id}/album", response_model=AlbumPage, summary="活动相册")
async def activity_album(activity_id: IdPath, user: CurrentUser, session: SessionDep, page: PageDep) -> AlbumPage:
    return AlbumPage(**await reading.album(session, user, activity_id, page.cursor, page.limit))


@router.get("/members/{member_id}/album", response_model=GrowthAlbumPage, summary="成长相册（本户和社工）")
async def growth_album(member_id: IdPath, user: CurrentUser, session: SessionDep, page: PageDep) -> GrowthAlbumPage:
    return GrowthAlbumPage(**await reading.growth_album(session, user, member_id, page.cursor, page.limit))


# -- shares ----------------------------------------------------------------------------------------


@router.post("/shares", response_model=ShareRead, status_code=201, summary="分享活动或动态：口令、页面路径、小程序码")
async def create_share(body: ShareCreate, user: CurrentUser, session: SessionDep) -> ShareRead:
    return ShareRead(**await shares.create_share(session, user, body.target, body.id))


@router.get("/shares/{token}", response_model=ShareOpened, summary="打开分享（每人每天计一次）")
@writes
async def open_share(
    token: Annotated[str, Path(min_length=4, max_length=16, pattern=r"^[0-9A-Za-z]+$")],
    user: CurrentUser,
    session: SessionDep,
) -> ShareOpened:
    return ShareOpened(**await shares.open_share(session, user, token))


# -- follows and figures ---------------------------------------------------------------------------

CategoryPath = Annotated[str, Path(pattern="^(" + "|".join(CATEGORIES) + ")$")]


@router.put("/communities/{community_id}/follows/categories/{category}", status_code=204, summary="关注一类活动")
async def follow_category(
    community_id: IdPath, category: CategoryPath, user: CurrentUser, session: SessionDep
) -> Response:
    await follows.follow(session, user, community_id, category, True)
    return Response(status_code=204)


@router.delete("/communities/{community_id}/follows/categories/{category}", status_code=204, summary="取消关注")
async def unfollow_category(
    community_id: IdPath, category: CategoryPath, user: CurrentUser, session: SessionDep
) -> Response:
    await follows.follow(session, user, community_id, category, False)
    return Response(status_code=204)


@router.get("/communities/{community_id}/follows/categories", response_model=list[str], summary="我关注的活动类别")
async def my_categories(community_id: IdPath, user: CurrentUser, session: SessionDep) -> list[str]:
    return await follows.followed(session, user, community_id)


@router.get("/activities/{activity_id}/loop", response_model=ActivityLoop, summary="活动的传播闭环数据（社工）")
async def activity_loop(activity_id: IdPath, user: CurrentUser, session: SessionDep) -> ActivityLoop:
    return ActivityLoop(**await loop.activity_loop(session, user, activity_id))


@router.get("/communities/{community_id}/loop", response_model=CommunityLoop, summary="本月的传播闭环数据（社工）")
async def community_loop(
    community_id: IdPath,
    user: CurrentUser,
    session: SessionDep,
    # the year's range is checked by the service, after the caller is known to be staff
    month: Annotated[
        str | None, Query(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="YYYY-MM（2000–2100），默认本月")
    ] = None,
) -> CommunityLoop:
    return CommunityLoop(**await loop.community_loop(session, user, community_id, month))


# -- WeChat's message push -------------------------------------------------------------------------


@public.get("/wechat/callback", response_class=PlainTextResponse, summary="微信消息推送：服务器地址验证")
async def verify_callback(
    settings: SettingsDep,
    signature: Annotated[str, Query(max_length=64)],
    timestamp: Annotated[str, Query(max_length=16)],
    nonce: Annotated[str, Query(max_length=64)],
    echostr: Annotated[str, Query(max_length=256)],
) -> PlainTextResponse:
    return PlainTextResponse(callback.verify(settings, signature, timestamp, nonce, echostr))


@public.post(
    "/wechat/callback",
    response_class=PlainTextResponse,
    summary="微信消息推送（安全模式）：内容安全结果",
    responses={
        400: {"description": "推送无法解析（push_malformed）"},
        413: {"description": "推送过大（push_too_large）"},
        503: {"description": "未配置消息推送（push_not_configured）"},
    },
)
async def receive_callback(
    request: Request,
    session: SessionDep,
    timestamp: Annotated[str, Query(max_length=16)],
    nonce: Annotated[str, Query(max_length=64)],
    msg_signature: Annotated[str, Query(max_length=64)],
) -> PlainTextResponse:
    await _bounded_body(request, PUSH_MAX_BYTES, "push_too_large", "消息推送过大")
    body = await request.body()
    await callback.receive(
        session,
        body,
        request.headers.get("content-type"),
        timestamp=timestamp,
        nonce=nonce,
        msg_signature=msg_signature,
    )
    return PlainTextResponse("success")
