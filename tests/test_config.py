from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.config import DEFAULT_JWT_SECRET, Settings

GOOD_SECRET = "a" * 48


# settings production accepts (any test may start from them)
PRODUCTION = {
    "environment": "production",
    "jwt_secret": GOOD_SECRET,
    "wechat_mode": "real",
    "wechat_appid": "wx1234567890",
    "wechat_secret": "real-secret",
    "data_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "wechat_push_token": "push-token",
    "wechat_push_aes_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
    "public_url": "https://linli.example.org",
}


def production(**overrides):
    values = {**PRODUCTION}
    values.update(overrides)
    return Settings(_env_file=None, **values)


def test_production_accepts_safe_settings():
    settings = production()
    assert settings.is_production
    assert settings.run_embedded_worker is False


def test_production_needs_a_data_key_for_personal_data():
    with pytest.raises(ValidationError, match="LINLI_DATA_KEY"):
        production(data_key=None)


def test_production_refuses_the_default_jwt_secret():
    with pytest.raises(ValidationError, match="LINLI_JWT_SECRET"):
        production(jwt_secret=DEFAULT_JWT_SECRET)


def test_production_refuses_a_short_jwt_secret():
    with pytest.raises(ValidationError, match="LINLI_JWT_SECRET"):
        production(jwt_secret="short")


def test_production_refuses_fake_wechat_mode():
    with pytest.raises(ValidationError, match="LINLI_WECHAT_MODE=fake"):
        production(wechat_mode="fake")


def test_production_needs_real_wechat_credentials():
    with pytest.raises(ValidationError, match="LINLI_WECHAT_SECRET"):
        production(wechat_secret="")


def test_development_defaults_run_out_of_the_box():
    settings = Settings(_env_file=None)
    assert settings.environment == "development"
    assert settings.wechat_mode == "fake"
    assert settings.database_url.startswith("sqlite+aiosqlite://")
    assert settings.timezone == "Asia/Shanghai"
    assert settings.run_embedded_worker is True


def test_settings_read_the_linli_prefix(monkeypatch):
    monkeypatch.setenv("LINLI_TIMEZONE", "Asia/Urumqi")
    monkeypatch.setenv("LINLI_JWT_TTL_SECONDS", "3600")
    settings = Settings(_env_file=None)
    assert settings.timezone == "Asia/Urumqi"
    assert settings.jwt_ttl_seconds == 3600


def test_unknown_time_zone_is_refused():
    with pytest.raises(ValidationError, match="unknown time zone"):
        Settings(_env_file=None, timezone="Mars/Olympus")


def test_a_data_key_that_is_not_32_bytes_of_base64_stops_the_start():
    for bad in ("short", "MDEyMzQ1Njc4OWFiY2RlZg==", "not base64 at all!!"):
        with pytest.raises(ValidationError, match="32 random bytes"):
            production(data_key=bad)


def test_production_needs_the_message_push_keys_and_complete_s3_settings():
    with pytest.raises(ValidationError, match="LINLI_WECHAT_PUSH_TOKEN"):
        production(wechat_push_token="")
    with pytest.raises(ValidationError, match="LINLI_STORAGE=s3"):
        production(storage="s3", s3_endpoint="https://cos.ap-guangzhou.myqcloud.com")
    with pytest.raises(ValidationError, match="EncodingAESKey"):
        production(wechat_push_aes_key="too-short")


def test_production_with_local_photos_needs_the_public_url():
    # WeChat's image check downloads the photo: a path of this API is no address for it
    with pytest.raises(ValidationError, match="LINLI_PUBLIC_URL"):
        production(public_url="")
    s3 = {"s3_endpoint": "https://cos.ap-guangzhou.myqcloud.com", "s3_bucket": "linli-1250000000",
          "s3_access_key": "AKID", "s3_secret_key": "secret"}  # fmt: skip
    assert production(public_url="", storage="s3", **s3).storage == "s3"  # presigned URLs are absolute
