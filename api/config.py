"""Settings, read from the environment with the LINLI_ prefix (and an optional .env file)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_JWT_SECRET = "linli-development-secret-change-me"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/linli.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    database_echo: bool = False

    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    jwt_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)

    wechat_mode: Literal["real", "fake"] = "fake"
    wechat_appid: str = "wx-linli-dev"
    wechat_secret: SecretStr = SecretStr("")
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    timezone: str = "Asia/Shanghai"
    cors_origins: list[str] = []
    log_level: str = "INFO"

    # The worker. In development `linli serve` also runs a worker loop inside the API process.
    embedded_worker: bool | None = None  # None: on in development, off in production
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    worker_batch_size: int = Field(default=10, ge=1, le=500)
    worker_max_attempts: int = Field(default=8, ge=1)
    worker_backoff_base_seconds: float = Field(default=5.0, ge=0)
    worker_backoff_max_seconds: float = Field(default=3600.0, ge=0)
    worker_lease_seconds: float = Field(default=300.0, gt=0)
    outbox_keep_done_days: int = Field(default=7, ge=1)

    idempotency_ttl_hours: int = Field(default=24, ge=1)

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _safe_in_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems = []
        secret = self.jwt_secret.get_secret_value()
        if secret == DEFAULT_JWT_SECRET or len(secret) < 32:
            problems.append("LINLI_JWT_SECRET must be set to a random value of at least 32 characters")
        if self.wechat_mode != "real":
            problems.append("LINLI_WECHAT_MODE=fake (development logins) is refused in production")
        if not self.wechat_secret.get_secret_value() or self.wechat_appid == "wx-linli-dev":
            problems.append("LINLI_WECHAT_APPID and LINLI_WECHAT_SECRET must be set in production")
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def run_embedded_worker(self) -> bool:
        if self.embedded_worker is None:
            return not self.is_production
        return self.embedded_worker

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
