from __future__ import annotations

from fastapi import APIRouter, Response

from api.schemas.categories import Categories
from api.services import categories

# static reference data: no login, so the first screen can show it before wx.login has finished
router = APIRouter(tags=["categories"])
MAX_AGE = 3600  # labels change only with a new release


@router.get(
    "/categories",
    response_model=Categories,
    summary="类别及中文名称（无需登录）",
    description=(
        "活动类别（activity）的值与中文名称，用于筛选、关注和表单。"
        "以后议事协商的诉求类别也会放在这里（另一个键），请按键取用。可缓存一小时。"
    ),
)
async def list_categories(response: Response) -> Categories:
    response.headers["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return Categories.model_validate(categories.categories())
