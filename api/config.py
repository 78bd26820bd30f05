"""Settings, read from the environment with the LINLI_ prefix (and an optional .env file)."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import time
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_JWT_SECRET = "linli-development-secret-change-me"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./var/linli.db"
_QUIET_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


class TemplateConfig(BaseModel):
    """The WeChat subscribe-message template of a notification kind, as chosen in the mini-program's
    console: its id, and optionally another page or field mapping than the kind's default
    (keyword → format string over the notification's params, e.g. {"thing1": "{activity_title}"})."""

    template_id: str = Field(min_length=1, max_length=128)
    page: str | None = Field(default=None, max_length=512)
    fields: dict[str, str] | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LINLI_", env_file=".env", extra="ignore")

    environment: Literal["development", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    database_echo: bool = False

    jwt_secret: SecretStr = SecretStr(DEFAULT_JWT_SECRET)
    # 32 random bytes, base64: seals personal data at rest (volunteers' ID numbers). Unset in
    # development: derived from the JWT secret. Required in production.
    data_key: SecretStr | None = None
    # where the service is reached from outside (https://linli.example.org): printed on
    # certificates so that whoever holds one can check it; "" prints the path only
    public_url: str = Field(default="", max_length=200, pattern=r"^(https?://[^\s/]+(/[^\s]*)?)?$")
    jwt_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)

    wechat_mode: Literal["real", "fake"] = "fake"
    wechat_appid: str = "wx-linli-dev"
    wechat_secret: SecretStr = SecretStr("")
    wechat_api_base: str = "https://api.weixin.qq.com"
    wechat_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    wechat_miniprogram_state: Literal["formal", "trial", "developer"] = "formal"
    # notification kind → its subscribe-message template; a kind without one goes to the inbox only
    wechat_templates: dict[str, TemplateConfig] = {}
    # WeChat pushes per second across all workers (0: unlimited)
    notify_send_rate_per_second: float = Field(default=20.0, ge=0)
    # recipients notified per worker job when an announcement fans out
    notify_fanout_batch_size: int = Field(default=500, ge=1, le=5000)
    # no WeChat pushes in this window, community time ("" for none); inbox entries appear at once.
    # The default of communities that have not set their own (communities.quiet_hours)
    quiet_hours: str = "21:30-08:00"

    timezone: str = "Asia/Shanghai"
    cors_origins: list[str] = []
    log_level: str = "INFO"

    # The worker. In development `linli serve` also runs a worker loop inside the API process.
    embedded_worker: bool | None = None  # None: on in development, off in production
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    worker_batch_size: int = Field(default=10, ge=1, le=500)
    worker_concurrency: int = Field(default=4, ge=1, le=64)  # jobs of a batch run side by side
    worker_max_attempts: int = Field(default=8, ge=1)
    worker_backoff_base_seconds: float = Field(default=5.0, ge=0)
    worker_backoff_max_seconds: float = Field(default=3600.0, ge=0)
    worker_lease_seconds: float = Field(default=300.0, gt=0)
    outbox_keep_done_days: int = Field(default=7, ge=1)

    idempotency_ttl_hours: int = Field(default=24, ge=1)

    # /metrics (the API's, and the worker's): readable with `Authorization: Bearer <token>`; with no
    # token, only from this machine (loopback, not through a proxy), and the API's not in production
    metrics_token: SecretStr = SecretStr("")
    # the worker serves its own /metrics on this port (0: not at all), on this address
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    # server processes `linli serve` starts when --workers is not given
    web_concurrency: int = Field(default=1, ge=1, le=64)

    # Request bodies past this are refused (413) before they are read or parsed, for anyone: the
    # photo upload and the catalogue import bound their own
    max_json_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    # how long to wait for a new database connection before answering 503
    database_connect_timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    # Photos. Uploads over media_max_bytes or media_max_pixels (width × height, read from the
    # header before anything is decoded) are refused.
    media_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=50 * 1024 * 1024)
    media_max_pixels: int = Field(default=40_000_000, ge=10_000, le=200_000_000)
    # How many photos one process decodes at once. A PNG near the pixel limit holds ~180 MB while
    # it is decoded (it cannot be decoded smaller; see bench/README.md), so 1 keeps a worker near
    # 300 MB however many arrive; the other photo jobs wait their turn, they do not fail.
    media_decode_concurrency: int = Field(default=1, ge=1, le=16)
    # Uploads per person in a sliding window; more are refused (429 too_many_uploads) before storing.
    media_uploads_per_window: int = Field(default=30, ge=1, le=10_000)
    media_upload_window_seconds: int = Field(default=600, ge=1, le=24 * 3600)
    # where photos live: "local" (files under media_dir, served by the API) or "s3" (any
    # S3-compatible store: Tencent COS, MinIO…, addressed path-style, served by presigned URLs)
    storage: Literal["local", "s3"] = "local"
    media_dir: str = "var/media"
    s3_endpoint: str = ""  # https://cos.ap-guangzhou.myqcloud.com, http://127.0.0.1:9000…
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: SecretStr = SecretStr("")
    # how long a photo's URL (a presigned one, or the API's own signed one) stays valid
    media_url_ttl_seconds: int = Field(default=6 * 3600, ge=60, le=7 * 24 * 3600)

    # The staff console's sign-in by scanning: a ticket lives this long; a browser session ends after
    # this long unused, or this long after sign-in whatever happens. One address may ask for this
    # many tickets in the window (the login page asks for a new one every ~3 minutes).
    console_ticket_ttl_seconds: int = Field(default=180, ge=30, le=900)
    console_session_idle_seconds: int = Field(default=2 * 3600, ge=60, le=24 * 3600)
    console_session_max_seconds: int = Field(default=12 * 3600, ge=300, le=7 * 24 * 3600)
    console_tickets_per_window: int = Field(default=20, ge=1, le=10_000)
    console_ticket_window_seconds: int = Field(default=600, ge=1, le=24 * 3600)

    # WeChat's message push (content-security verdicts), safe mode: the Token and EncodingAESKey
    # set in the mini-program's console
    wechat_push_token: SecretStr = SecretStr("")
    wechat_push_aes_key: SecretStr = SecretStr("")  # 43 characters
    # fake mode only: how the fake content check judges text and images (the demo works offline)
    wechat_fake_risky_words: list[str] = ["违禁词"]
    wechat_fake_review_words: list[str] = ["待审核"]
    wechat_fake_image_verdict: Literal["pass", "review", "risky"] = "pass"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str) -> str:
        value = value.strip()
        if value and (not _QUIET_HOURS.match(value) or value[:5] == value[6:]):
            raise ValueError("quiet hours are HH:MM-HH:MM, e.g. 21:30-08:00, or empty")
        return value

    @model_validator(mode="after")
    def _safe_in_production(self) -> Settings:
        if self.environment != "production":
            return self
        problems = []
        secret = self.jwt_secret.get_secret_value()
        if secret == DEFAULT_JWT_SECRET or len(secret) < 32:
            problems.append("LINLI_JWT_SECRET must be set to a random value of at least 32 characters")
        if self.data_key is None:
            problems.append("LINLI_DATA_KEY must be set (32 random bytes, base64) to seal personal data")
        if self.wechat_mode != "real":
            problems.append("LINLI_WECHAT_MODE=fake (development logins) is refused in production")
        if not self.wechat_secret.get_secret_value() or self.wechat_appid == "wx-linli-dev":
            problems.append("LINLI_WECHAT_APPID and LINLI_WECHAT_SECRET must be set in production")
        if not self.wechat_push_token.get_secret_value() or not self.wechat_push_aes_key.get_secret_value():
            problems.append(
                "LINLI_WECHAT_PUSH_TOKEN and LINLI_WECHAT_PUSH_AES_KEY must be set: photo checks answer by message push"
            )
        if self.storage == "s3" and not (
            self.s3_endpoint and self.s3_bucket and self.s3_access_key and self.s3_secret_key.get_secret_value()
        ):
            problems.append("LINLI_STORAGE=s3 needs LINLI_S3_ENDPOINT, _BUCKET, _ACCESS_KEY and _SECRET_KEY")
        if self.storage == "local" and not self.public_url:
            problems.append(
                "LINLI_PUBLIC_URL must be set with LINLI_STORAGE=local: photo links (and WeChat's image check) need it"
            )
        if problems:
            raise ValueError("unsafe production settings: " + "; ".join(problems))
        return self

    @field_validator("wechat_push_aes_key")
    @classmethod
    def _aes_key_is_43_characters(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if key:
            try:
                ok = len(key) == 43 and len(base64.b64decode(key + "=", validate=True)) == 32
            except ValueError:
                ok = False
            if not ok:
                raise ValueError("LINLI_WECHAT_PUSH_AES_KEY is the 43-character EncodingAESKey from the WeChat console")
        return value

    @field_validator("data_key")
    @classmethod
    def _data_key_is_32_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                key = base64.b64decode(value.get_secret_value(), validate=True)
            except ValueError:
                key = b""
            if len(key) != 32:
                raise ValueError("LINLI_DATA_KEY must be 32 random bytes, base64-encoded (openssl rand -base64 32)")
        return value

    @property
    def data_key_bytes(self) -> bytes:
        if self.data_key is None:
            return hashlib.sha256(b"linli-data-key:" + self.jwt_secret.get_secret_value().encode()).digest()
        key = base64.b64decode(self.data_key.get_secret_value())
        if len(key) != 32:
            raise ValueError("LINLI_DATA_KEY must be 32 bytes, base64-encoded")
        return key

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
    def quiet_window(self) -> tuple[time, time] | None:
        if not self.quiet_hours:
            return None
        start, end = self.quiet_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
