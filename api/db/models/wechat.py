from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base


class WechatAccessToken(Base):
    """The one access_token shared by every API process and worker (WECHAT.md: stable_token)."""

    __tablename__ = "wechat_access_tokens"

    appid: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(String(1024))
    expires_at: Mapped[datetime | None]
    refreshed_at: Mapped[datetime | None]
