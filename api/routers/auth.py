from __future__ import annotations

from fastapi import APIRouter

from api.deps import CurrentUser, DatabaseDep, SessionDep, SettingsDep, TokenClaimsDep, WeChatDep
from api.errors import Unauthorized
from api.schemas.auth import LoginRequest, LoginResponse, MeRead, MeUpdate, PhoneBindRequest
from api.security import issue_access_token
from api.services import users

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/wechat/login",
    response_model=LoginResponse,
    summary="用 wx.login 的 code 登录，换取 Linli 的访问令牌",
    description=(
        "真实模式调用微信 jscode2session；开发模式（LINLI_WECHAT_MODE=fake）下 code `dev:<name>` "
        "登录 openid 为 `dev-<name>` 的用户。令牌过期后小程序用新的 code 静默重新登录。"
    ),
)
async def login(body: LoginRequest, session: SessionDep, wechat: WeChatDep, settings: SettingsDep) -> LoginResponse:
    user = await users.login(session, wechat, body.code)
    issued = issue_access_token(settings, user.id)
    profile = await users.profile(session, user)
    return LoginResponse(access_token=issued.token, expires_in=issued.expires_in, user=MeRead(**profile))


@router.post("/auth/wechat/phone", response_model=MeRead, summary="绑定微信手机号（getPhoneNumber 的 code）")
async def bind_phone(
    body: PhoneBindRequest, claims: TokenClaimsDep, session: SessionDep, db: DatabaseDep, wechat: WeChatDep
) -> MeRead:
    user = await users.bind_phone(session, db, wechat, claims.user_id, body.code)
    return MeRead(**await users.profile(session, user))


@router.get("/me", response_model=MeRead, summary="当前用户及其在各社区的身份")
async def me(claims: TokenClaimsDep, session: SessionDep) -> MeRead:
    # the user and their memberships in one statement (not CurrentUser's ORM object, then another)
    found = await users.me(session, claims.user_id)
    if found is None:
        raise Unauthorized("token_invalid", "登录凭证无效，请重新登录")
    return MeRead(**found)


@router.patch("/me", response_model=MeRead, summary="修改昵称或头像")
async def update_me(body: MeUpdate, user: CurrentUser, session: SessionDep) -> MeRead:
    await users.update_profile(
        session,
        user,
        display_name=body.display_name,
        avatar_url=str(body.avatar_url) if body.avatar_url is not None else None,
    )
    return MeRead(**await users.profile(session, user))
