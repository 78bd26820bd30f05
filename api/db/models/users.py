from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from api.db.base import Base, IdMixin, TimestampMixin


class User(IdMixin, TimestampMixin, Base):
    """A WeChat account. WeChat's session_key is not kept: Linli decrypts nothing on the server."""

    __tablename__ = "users"

    openid: Mapped[str] = mapped_column(String(64), unique=True)
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    avatar_url: Mapped[str | None] = mapped_column(String(512))
    phone_number: Mapped[str | None] = mapped_column(String(20))
    phone_country_code: Mapped[str | None] = mapped_column(String(8))
    phone_bound_at: Mapped[datetime | None]
    is_platform_admin: Mapped[bool] = mapped_column(default=False)
    last_login_at: Mapped[datetime | None]
