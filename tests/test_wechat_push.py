"""WeChat's message push in safe mode (api.wechat.push), and the content-security and mini-program
code calls of the WeChat client against the in-process fake WeChat in real mode."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from api.wechat import push as wechat_push
from api.wechat.client import TextVerdict, WeChatError, WeChatUnavailable
from api.wechat.fake import FakeWeChat
from api.wechat.push import PushError

# -- a vector made here, with WeChat's documented algorithm and nothing from api.wechat.push ------

TOKEN = "linli-push-token"
AES_KEY = "kWxPmHq3Lr8tZ2vYc5NbJd7Fg9Ks4Ae6Tu1Wo0Xi2Mp"  # 43 characters
APPID = "wx-test-app"
TIMESTAMP = "1767225600"
NONCE = "1357924680"
PREFIX = bytes(range(16))  # the "16 random bytes", fixed
EVENT = {
    "ToUserName": "gh_9df7d78a1234",
    "FromUserName": "o4_t144jTUSEoxydysUA2E234_tc",
    "CreateTime": 1626959646,
    "MsgType": "event",
    "Event": "wxa_media_check",
    "appid": APPID,
    "trace_id": "60f96f1d-3845297a-1976a3ae",
    "version": 2,
    "detail": [{"strategy": "content_model", "errcode": 0, "suggest": "pass", "label": 100, "prob": 90}],
    "errcode": 0,
    "errmsg": "ok",
    "result": {"suggest": "pass", "label": 100},
}
MESSAGE = json.dumps(EVENT, ensure_ascii=False).encode()


def _sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def _wechat_encrypt(plain_content: bytes, *, pad_to: int = 32, padding: bytes | None = None) -> str:
    """AES-256-CBC, key = b64decode(EncodingAESKey + "="), IV = key[:16], PKCS#7 to 32 bytes."""
    key = base64.b64decode(AES_KEY + "=")
    assert len(key) == 32
    if padding is None:
        n = pad_to - len(plain_content) % pad_to
        padding = bytes([n]) * n
    data = plain_content + padding
    assert len(data) % 16 == 0
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def _content(message: bytes = MESSAGE, appid: str = APPID) -> bytes:
    return PREFIX + struct.pack(">I", len(message)) + message + appid.encode()


def _decrypt(encrypt: str, *, msg_signature: str | None = None, token: str = TOKEN, appid: str = APPID) -> bytes:
    return wechat_push.decrypt(
        token,
        AES_KEY,
        appid,
        timestamp=TIMESTAMP,
        nonce=NONCE,
        msg_signature=msg_signature or _sha1_sorted(token, TIMESTAMP, NONCE, encrypt),
        encrypt=encrypt,
    )


def test_an_independently_made_vector_decrypts():
    encrypt = _wechat_encrypt(_content())
    msg_signature = _sha1_sorted(TOKEN, TIMESTAMP, NONCE, encrypt)
    assert _decrypt(encrypt, msg_signature=msg_signature) == MESSAGE
    assert _decrypt(encrypt, msg_signature=msg_signature.upper()) == MESSAGE
    # and wechat_push.encrypt, given the same prefix, makes exactly these bytes
    assert wechat_push.encrypt(
        TOKEN, AES_KEY, APPID, MESSAGE, timestamp=TIMESTAMP, nonce=NONCE, random_prefix=PREFIX
    ) == (
        encrypt,
        msg_signature,
    )


def test_a_wrong_token_is_a_bad_signature():
    encrypt = _wechat_encrypt(_content())
    signed_by_them = _sha1_sorted("another-token", TIMESTAMP, NONCE, encrypt)
    with pytest.raises(PushError) as caught:
        _decrypt(encrypt, msg_signature=signed_by_them)
    assert caught.value.code == "push_signature_invalid"
    with pytest.raises(PushError) as caught:
        _decrypt(encrypt, token="another-token", msg_signature=_sha1_sorted(TOKEN, TIMESTAMP, NONCE, encrypt))
    assert caught.value.code == "push_signature_invalid"
    with pytest.raises(PushError) as caught:  # no token configured: nothing verifies
        _decrypt(encrypt, token="", msg_signature=_sha1_sorted("", TIMESTAMP, NONCE, encrypt))
    assert caught.value.code == "push_signature_invalid"


def test_another_appid_is_refused():
    encrypt = _wechat_encrypt(_content(appid="wx-someone-else"))
    with pytest.raises(PushError) as caught:
        _decrypt(encrypt)
    assert caught.value.code == "push_appid_mismatch"
    with pytest.raises(PushError) as caught:  # a prefix of ours is not ours
        _decrypt(_wechat_encrypt(_content(appid=APPID + "x")))
    assert caught.value.code == "push_appid_mismatch"


def _flipped(encrypt: str, at: int) -> str:
    raw = bytearray(base64.b64decode(encrypt))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


# ciphertext byte -> what flipping it does in CBC: garbles its own 16-byte block of plaintext and
# flips the same bit of the next block's
FLIPS = {
    0: "the length's high byte: past the end",
    3: "the length's low byte: the appid no longer lines up",
    -17: "the padding byte",
    -1: "the last block, padding included",
}


@pytest.mark.parametrize("at", list(FLIPS), ids=list(FLIPS.values()))
def test_a_flipped_ciphertext_byte_is_refused(at):
    encrypt = _wechat_encrypt(_content())
    original_signature = _sha1_sorted(TOKEN, TIMESTAMP, NONCE, encrypt)
    tampered = _flipped(encrypt, at)
    with pytest.raises(PushError) as caught:  # the signature covers the ciphertext
        _decrypt(tampered, msg_signature=original_signature)
    assert caught.value.code == "push_signature_invalid"
    with pytest.raises(PushError) as caught:  # re-signed by someone who knows the token, not the key
        _decrypt(tampered)
    assert caught.value.code in ("push_decrypt_failed", "push_appid_mismatch")


def test_any_re_signed_flip_is_a_push_error_or_another_message():
    """CBC has no integrity of its own: a re-signed flip inside the message changes the message
    (which is why the token stays secret). Nothing raises anything but PushError, and nothing
    decrypts to the original."""
    encrypt = _wechat_encrypt(_content())
    for at in range(len(base64.b64decode(encrypt))):
        try:
            plain = _decrypt(_flipped(encrypt, at))
        except PushError as exc:
            assert exc.code in ("push_decrypt_failed", "push_appid_mismatch")
        else:
            assert plain != MESSAGE


def test_bad_padding_is_a_decrypt_failure():
    content = _content()
    n = 32 - len(content) % 32
    cases = [
        b"\x00" * n,  # pad byte 0
        b"\x21" * (n + 32),  # 33 > 32
    ]
    if n > 1:
        cases.append(bytes([n + 1]) * (n - 1) + bytes([n]))  # the last byte says n, the others disagree
    for padding in cases:
        with pytest.raises(PushError) as caught:
            _decrypt(_wechat_encrypt(content, padding=padding))
        assert caught.value.code == "push_decrypt_failed", padding


def test_garbage_never_raises_anything_but_push_errors():
    cases = ["", "not base64!", base64.b64encode(b"short").decode(), base64.b64encode(b"x" * 48).decode()]
    for encrypt in cases:
        with pytest.raises(PushError) as caught:
            _decrypt(encrypt)
        assert caught.value.code == "push_decrypt_failed", encrypt
    # a length field pointing past the end
    content = PREFIX + struct.pack(">I", 10_000) + b"abc" + APPID.encode()
    with pytest.raises(PushError) as caught:
        _decrypt(_wechat_encrypt(content))
    assert caught.value.code == "push_decrypt_failed"


def test_a_malformed_aes_key_is_our_configuration_error():
    with pytest.raises(ValueError, match="EncodingAESKey"):
        wechat_push.decrypt(TOKEN, "short", APPID, timestamp="1", nonce="2", msg_signature="x", encrypt="y")


# -- WeChat's own sample vectors (WXBizMsgCrypt sample code, "消息加解密") ----------------------------

SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def test_wechat_sample_java_vectors():
    """WXBizMsgCryptTest.java: token pamtest, appid wxb11529c136998cb6, random aaaabbbbccccdddd."""
    reply = "我是中文abcd123".encode()
    expected = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
    encrypt, msg_signature = wechat_push.encrypt(
        "pamtest",
        SAMPLE_KEY,
        "wxb11529c136998cb6",
        reply,
        timestamp="1409304348",
        nonce="xxxxxx",
        random_prefix=b"aaaabbbbccccdddd",
    )
    assert encrypt == expected
    assert msg_signature == _sha1_sorted("pamtest", "1409304348", "xxxxxx", expected)
    plain = wechat_push.decrypt(
        "pamtest",
        SAMPLE_KEY,
        "wxb11529c136998cb6",
        timestamp="1409304348",
        nonce="xxxxxx",
        msg_signature=msg_signature,
        encrypt=expected,
    )
    assert plain == reply

    reply2 = (
        "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName>"
        "<![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]>"
        "</MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]>"
        "</MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]>"
        "</Description></Video></xml>"
    ).encode()
    expected2 = (
        "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9"
        "+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/w"
        "M9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+"
        "jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/"
        "Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA"
        "5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb"
    )
    encrypt2, _ = wechat_push.encrypt(
        "pamtest",
        SAMPLE_KEY,
        "wxb11529c136998cb6",
        reply2,
        timestamp="1409304348",
        nonce="xxxxxx",
        random_prefix=b"aaaabbbbccccdddd",
    )
    assert encrypt2 == expected2


def test_wechat_sample_python_push_decrypts():
    """Sample.py: an encrypted push with WeChat's msg_signature, token spamtest."""
    body = (
        b"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName><FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]>"
        b"</FromUserName><CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>"
        b"<![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId><Encrypt><![CDATA["
        b"hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9"
        b"FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt"
        b"+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0"
        b"EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=]]>"
        b"</Encrypt></xml>"
    )
    message = wechat_push.open_push(
        "spamtest",
        SAMPLE_KEY,
        "wx2c2769f8efd9abc2",
        body=body,
        content_type="text/xml",
        timestamp="1409735669",
        nonce="1320562132",
        msg_signature="5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    )
    assert message == {
        "ToUserName": "gh_10f6c3c3ac5a",
        "FromUserName": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
        "CreateTime": 1409735668,
        "MsgType": "text",
        "Content": "abcdteT",
        "MsgId": 6054768590064713728,
    }


# -- signatures, round trip, envelopes, messages ----------------------------------------------------


def test_check_signature():
    good = _sha1_sorted(TOKEN, TIMESTAMP, NONCE)
    assert wechat_push.check_signature(TOKEN, TIMESTAMP, NONCE, good)
    assert wechat_push.check_signature(TOKEN, TIMESTAMP, NONCE, signature=good.upper())
    assert not wechat_push.check_signature(TOKEN, TIMESTAMP, NONCE, good[:-1] + "0" if good[-1] != "0" else "1")
    assert not wechat_push.check_signature(TOKEN, TIMESTAMP, "other-nonce", good)
    assert not wechat_push.check_signature(TOKEN, TIMESTAMP, NONCE, "")
    assert not wechat_push.check_signature(TOKEN, TIMESTAMP, NONCE, "非ascii")
    assert not wechat_push.check_signature("", TIMESTAMP, NONCE, _sha1_sorted("", TIMESTAMP, NONCE))


@pytest.mark.parametrize("message", [b"", b"x", b"y" * 11, "中文消息".encode() * 100, MESSAGE])
def test_encrypt_decrypt_round_trip(message):
    encrypt, msg_signature = wechat_push.encrypt(TOKEN, AES_KEY, APPID, message, timestamp=TIMESTAMP, nonce=NONCE)
    assert len(base64.b64decode(encrypt)) % 32 == 0
    assert _decrypt(encrypt, msg_signature=msg_signature) == message
    again, _ = wechat_push.encrypt(TOKEN, AES_KEY, APPID, message, timestamp=TIMESTAMP, nonce=NONCE)
    assert again != encrypt  # the prefix is random


def test_parse_envelope_json_and_xml():
    assert wechat_push.parse_envelope(
        b'{"ToUserName": "gh_1", "Encrypt": "abc=="}', "application/json; charset=utf-8"
    ) == {"ToUserName": "gh_1", "Encrypt": "abc=="}
    xml = b"<xml><ToUserName><![CDATA[gh_1]]></ToUserName><Encrypt><![CDATA[abc==]]></Encrypt></xml>"
    assert wechat_push.parse_envelope(xml, "text/xml") == {"ToUserName": "gh_1", "Encrypt": "abc=="}
    assert wechat_push.parse_envelope(b"  " + xml, None)["Encrypt"] == "abc=="  # sniffed
    assert wechat_push.parse_envelope(b'{"Encrypt": "abc=="}', None) == {"Encrypt": "abc=="}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "x">]><xml><Encrypt>&a;</Encrypt></xml>', "text/xml"),
        (b'<!doctype xml SYSTEM "file:///etc/passwd"><xml><Encrypt>x</Encrypt></xml>', "text/xml"),
        (b"<xml><Encrypt>x</Encrypt><!ENTITY y 'z'></xml>", "text/xml"),
        ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x><xml/>'.encode("utf-16"), "text/xml"),
        (b"<xml><Encrypt>x</Encrypt>" + b"<a>b</a>" * 10_000 + b"</xml>", "text/xml"),  # > 64 KB
        (b"<xml><Encrypt>x</Encrypt>", "text/xml"),  # unclosed
        (b"<xml><ToUserName>gh_1</ToUserName></xml>", "text/xml"),  # no Encrypt
        (b"<xml><Encrypt></Encrypt></xml>", "text/xml"),
        (b'{"Encrypt": 5}', "application/json"),
        (b'["Encrypt"]', "application/json"),
        (b"{not json", "application/json"),
        (b"", None),
    ],
)
def test_parse_envelope_refuses(body, content_type):
    with pytest.raises(PushError) as caught:
        wechat_push.parse_envelope(body, content_type)
    assert caught.value.code == "push_malformed"


def test_parse_message_media_check_event_json():
    assert wechat_push.parse_message(MESSAGE) == EVENT


def test_parse_message_media_check_event_xml():
    xml = b"""<xml>
      <ToUserName><![CDATA[gh_9df7d78a1234]]></ToUserName>
      <FromUserName><![CDATA[o4_t144jTUSEoxydysUA2E234_tc]]></FromUserName>
      <CreateTime>1626959646</CreateTime>
      <MsgType><![CDATA[event]]></MsgType>
      <Event><![CDATA[wxa_media_check]]></Event>
      <appid><![CDATA[wx-test-app]]></appid>
      <trace_id><![CDATA[60f96f1d-3845297a-1976a3ae]]></trace_id>
      <version>2</version>
      <detail>
        <strategy><![CDATA[content_model]]></strategy>
        <errcode>0</errcode>
        <suggest><![CDATA[pass]]></suggest>
        <label>100</label>
        <prob>90</prob>
      </detail>
      <errcode>0</errcode>
      <errmsg><![CDATA[ok]]></errmsg>
      <result>
        <suggest><![CDATA[pass]]></suggest>
        <label>100</label>
      </result>
    </xml>"""
    assert wechat_push.parse_message(xml) == EVENT  # the same dict as the JSON form

    risky = b"<xml><Event>wxa_media_check</Event><trace_id>t</trace_id><result><suggest>risky</suggest>" + (
        b"<label>20002</label></result></xml>"
    )
    assert wechat_push.parse_message(risky) == {
        "Event": "wxa_media_check",
        "trace_id": "t",
        "result": {"suggest": "risky", "label": 20002},
    }
    with pytest.raises(PushError) as caught:
        wechat_push.parse_message(b'<!DOCTYPE x [<!ENTITY a "b">]><xml><Event>&a;</Event></xml>')
    assert caught.value.code == "push_malformed"


async def test_the_fakes_push_goes_through_the_real_checks():
    fake = FakeWeChat(appid=APPID)
    async with httpx.AsyncClient(base_url="https://wechat.test", transport=httpx.MockTransport(fake.handle)) as http:
        answer = await http.post("/cgi-bin/stable_token", json={"grant_type": "client_credential", "appid": APPID})
        token = answer.json()["access_token"]
        answer = await http.post(
            "/wxa/media_check_async",
            params={"access_token": token},
            json={"media_url": "https://x.test/a.jpg", "media_type": 2, "version": 2, "openid": "o", "scene": 3},
        )
    trace_id = answer.json()["trace_id"]
    (event,) = fake.pushes_due()
    assert event["trace_id"] == trace_id and event["appid"] == APPID and event["result"]["suggest"] == "pass"
    body, params = fake.push_body(event, token=TOKEN, aes_key=AES_KEY, appid=APPID, timestamp=TIMESTAMP, nonce=NONCE)
    assert set(params) == {"signature", "timestamp", "nonce", "encrypt_type", "msg_signature"}
    assert params["encrypt_type"] == "aes" and params["timestamp"] == TIMESTAMP and params["nonce"] == NONCE
    assert wechat_push.check_signature(TOKEN, params["timestamp"], params["nonce"], params["signature"])
    envelope = json.loads(body)
    assert set(envelope) == {"ToUserName", "Encrypt"}
    message = wechat_push.open_push(
        TOKEN,
        AES_KEY,
        APPID,
        body=body,
        content_type="application/json",
        timestamp=params["timestamp"],
        nonce=params["nonce"],
        msg_signature=params["msg_signature"],
    )
    assert message == event
    # encrypted for another mini-program: refused
    body, params = fake.push_body(event, token=TOKEN, aes_key=AES_KEY, appid="wx-other")
    with pytest.raises(PushError) as caught:
        wechat_push.open_push(
            TOKEN,
            AES_KEY,
            APPID,
            body=body,
            content_type="application/json",
            timestamp=params["timestamp"],
            nonce=params["nonce"],
            msg_signature=params["msg_signature"],
        )
    assert caught.value.code == "push_appid_mismatch"


# -- the client against the fake WeChat (real mode) ---------------------------------------------------


def _png_chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kind, data = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + data)
        chunks.append((kind, data))
        at += 12 + length
    return chunks


async def test_msg_sec_check_by_words(real_wechat):
    _, fake, application = real_wechat
    wechat = application.state.wechat
    fake.risky_words = ["违禁词"]
    fake.review_words = ["待审核"]
    verdict = await wechat.msg_sec_check(openid="dev-a", content="周六一起读书", scene=2)
    assert isinstance(verdict, TextVerdict)
    assert (verdict.suggest, verdict.label) == ("pass", 100) and verdict.trace_id
    verdict = await wechat.msg_sec_check(openid="dev-a", content="这是待审核的内容", scene=3)
    assert (verdict.suggest, verdict.label) == ("review", 20002)
    verdict = await wechat.msg_sec_check(openid="dev-a", content="待审核也有违禁词", scene=1)
    assert (verdict.suggest, verdict.label) == ("risky", 20001)

    _, body = fake.calls[-1]
    assert body["version"] == 2 and body["scene"] == 1 and body["openid"] == "dev-a"
    assert body["access_token"] == "fake-access-token-1"

    await wechat.msg_sec_check(openid="dev-a", content="长" * 3000 + "违禁词", scene=4)  # trimmed to 2500
    assert len(fake.calls[-1][1]["content"]) == 2500

    with pytest.raises(WeChatError) as caught:  # WeChat's answer for an empty openid
        await wechat.msg_sec_check(openid="", content="你好", scene=2)
    assert caught.value.errcode == 40003
    with pytest.raises(ValueError):
        await wechat.msg_sec_check(openid="dev-a", content="你好", scene=9)
    calls = len(fake.calls)
    assert await wechat.msg_sec_check(openid="dev-a", content=" \n ", scene=2) == TextVerdict("pass", 100, None)
    assert len(fake.calls) == calls  # nothing to check: no call


async def test_media_check_async_is_recorded_and_pushed_once(real_wechat):
    _, fake, application = real_wechat
    wechat = application.state.wechat
    first = await wechat.media_check_async(openid="dev-a", media_url="https://linli.test/m/1.jpg", scene=3)
    fake.script_media_verdict("risky")
    second = await wechat.media_check_async(openid="dev-b", media_url="https://linli.test/m/2.jpg", scene=4)
    assert first != second
    assert [(c["trace_id"], c["media_url"], c["openid"], c["scene"]) for c in fake.media_checks] == [
        (first, "https://linli.test/m/1.jpg", "dev-a", 3),
        (second, "https://linli.test/m/2.jpg", "dev-b", 4),
    ]
    _, body = fake.calls[-1]
    assert (body["media_type"], body["version"]) == (2, 2)

    events = {e["trace_id"]: e for e in fake.pushes_due()}
    assert set(events) == {first, second}
    assert events[first]["result"] == {"suggest": "pass", "label": 100}
    assert events[second]["result"] == {"suggest": "risky", "label": 20001}
    assert events[second]["Event"] == "wxa_media_check" and events[second]["FromUserName"] == "dev-b"
    assert fake.pushes_due() == []  # each once

    fake.image_verdict = "review"
    third = await wechat.media_check_async(openid="dev-a", media_url="https://linli.test/m/3.jpg", scene=3)
    fourth = await wechat.media_check_async(openid="dev-a", media_url="https://linli.test/m/4.jpg", scene=3)
    fake.verdicts[fourth] = "pass"
    assert [(e["trace_id"], e["result"]["suggest"]) for e in fake.pushes_due()] == [(third, "review"), (fourth, "pass")]

    with pytest.raises(WeChatError) as caught:
        await wechat.media_check_async(openid="", media_url="https://linli.test/m/5.jpg", scene=3)
    assert caught.value.errcode == 40003
    with pytest.raises(WeChatError) as caught:  # WeChat cannot download it
        await wechat.media_check_async(openid="dev-a", media_url="/media/5.jpg", scene=3)
    assert caught.value.errcode == 47001
    with pytest.raises(ValueError):
        await wechat.media_check_async(openid="dev-a", media_url="https://linli.test/m/5.jpg", scene=7)
    assert len(fake.media_checks) == 4


async def test_get_wxacode_unlimit_returns_a_png(real_wechat):
    _, fake, application = real_wechat
    wechat = application.state.wechat
    png = await wechat.get_wxacode_unlimit(scene="c=Ab3_x", page="pages/checkin/index", width=280)
    chunks = _png_chunks(png)
    kinds = [k for k, _ in chunks]
    assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND" and b"IDAT" in kinds
    width, height = struct.unpack(">II", chunks[0][1][:8])
    assert (width, height) == (280, 280)
    assert FakeWeChat.png_text(png) == {"scene": "c=Ab3_x", "page": "pages/checkin/index", "env_version": "release"}
    assert await wechat.get_wxacode_unlimit(scene="c=Ab3_x", page="pages/checkin/index", width=280) == png
    assert fake.codes[-1] == {"scene": "c=Ab3_x", "page": "pages/checkin/index", "env_version": "release", "width": 280}
    _, body = fake.calls[-1]
    assert body["check_path"] is False and body["env_version"] == "release"

    for bad in ("/pages/index/index", "pages/index/index?id=1", "pages/a b"):
        with pytest.raises(ValueError):
            await wechat.get_wxacode_unlimit(scene="s", page=bad)
    for bad_scene in ("", "x" * 33, "中文", "a b", "a%20"):
        with pytest.raises(ValueError):
            await wechat.get_wxacode_unlimit(scene=bad_scene, page="pages/index/index")
    with pytest.raises(ValueError):
        await wechat.get_wxacode_unlimit(scene="s", page="pages/index/index", env_version="beta")
    with pytest.raises(ValueError):
        await wechat.get_wxacode_unlimit(scene="s", page="pages/index/index", width=2000)
    assert fake.count("/wxa/getwxacodeunlimit") == 2  # none of those reached WeChat

    fake.pages = {"pages/index/index"}
    with pytest.raises(WeChatError) as caught:  # check_path against the published pages
        await wechat.get_wxacode_unlimit(scene="s", page="pages/unpublished/index", check_path=True)
    assert caught.value.errcode == 41030


async def test_the_fake_answers_bad_wxacode_requests_like_wechat(real_wechat):
    _, _, application = real_wechat
    http = application.state.http
    token = await application.state.wechat.access_token()
    path = "/wxa/getwxacodeunlimit"

    async def post(body):
        response = await http.post(path, params={"access_token": token}, json=body)
        assert response.headers["content-type"].startswith("application/json")
        return response.json()["errcode"]

    assert await post({"scene": "s", "page": "/pages/index/index"}) == 41030
    assert await post({"scene": "s", "page": "pages/index/index?x=1"}) == 41030
    assert await post({"scene": "x" * 33, "page": "pages/index/index"}) == 40129
    response = await http.post(path, params={"access_token": "stale"}, json={"scene": "s", "page": ""})
    assert response.json()["errcode"] == 40001
    response = await http.post(path, params={"access_token": token}, content=b"{not json")
    assert response.json()["errcode"] == 47001
    response = await http.post("/wxa/msg_sec_check", params={"access_token": token}, content=b"[1, 2]")
    assert response.json()["errcode"] == 47001


@pytest.mark.parametrize(
    ("path", "call"),
    [
        ("/wxa/msg_sec_check", lambda w: w.msg_sec_check(openid="dev-a", content="你好", scene=2)),
        (
            "/wxa/media_check_async",
            lambda w: w.media_check_async(openid="dev-a", media_url="https://linli.test/a.jpg", scene=3),
        ),
        ("/wxa/getwxacodeunlimit", lambda w: w.get_wxacode_unlimit(scene="s", page="pages/index/index")),
    ],
    ids=["msg_sec_check", "media_check_async", "getwxacodeunlimit"],
)
async def test_scripted_failures_map_like_the_other_calls(real_wechat, path, call):
    _, fake, application = real_wechat
    wechat = application.state.wechat

    fake.fail_next(path, 45009, "reach max api daily quota limit")
    with pytest.raises(WeChatError) as caught:
        await call(wechat)
    assert caught.value.errcode == 45009

    fake.fail_next(path, -1, "system error")
    with pytest.raises(WeChatUnavailable):
        await call(wechat)

    fake.fail_next(path, exc=httpx.ReadTimeout("slow"))
    with pytest.raises(WeChatUnavailable):
        await call(wechat)

    fake.expire_token()  # 40001: the token is refetched once, then the call succeeds
    assert await call(wechat)
    assert fake.count("/cgi-bin/stable_token") == 2
