"""WeChat's message push ("消息推送") in safe mode, as shared WECHAT.md describes it.

WeChat verifies the callback URL with a GET (`signature` over token, timestamp, nonce: echo
`echostr`), then POSTs events such as `wxa_media_check` inside an envelope
`{"ToUserName", "Encrypt"}` (JSON or XML) with `msg_signature` over token, timestamp, nonce and
Encrypt in the query. `Encrypt` is AES-256-CBC (key = base64 of the 43-character EncodingAESKey
plus "=", IV = the key's first 16 bytes, PKCS#7 padding to 32 bytes) of
16 random bytes + 4-byte big-endian length + message + appid.

Everything a sender controls is checked before it is used: the signature before decryption (it
covers the ciphertext), the padding and length after, the appid last. Any failure is a PushError
with a stable code; XML is parsed only without DTD or entities and only up to MAX_BODY_BYTES.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import struct
from typing import Any
from xml.etree import ElementTree

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

MAX_BODY_BYTES = 64 * 1024
BLOCK_SIZE = 32  # WeChat pads to 32 bytes, not AES's 16
_RANDOM_BYTES = 16
# fields of WeChat's events that are numbers in JSON; the same XML fields arrive as text
_INT_FIELDS = frozenset({"CreateTime", "version", "errcode", "errCode", "label", "prob", "level", "MsgId"})
_LIST_FIELDS = frozenset({"detail"})  # always a list, even when the XML has one element
_INTEGER = re.compile(r"-?[0-9]{1,19}")


class PushError(Exception):
    """A push that must not be acted on. `code`: push_signature_invalid, push_decrypt_failed,
    push_appid_mismatch or push_malformed."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}" if detail else code)


def sign(*parts: str) -> str:
    """WeChat's signature: sha1 hex of the sorted parts concatenated."""
    joined = "".join(sorted(parts)).encode()
    return hashlib.sha1(joined).hexdigest()  # noqa: S324 - WeChat's protocol, not our choice


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode())


def check_signature(token: str, timestamp: str, nonce: str, signature: str) -> bool:
    """The GET verification (and the plain `signature` of a POST): sha1 of sorted token,
    timestamp, nonce, compared in constant time. An unset token verifies nothing."""
    if not token:
        return False
    return _same(sign(token, timestamp, nonce), signature)


def _aes_key(aes_key_43: str) -> bytes:
    try:
        key = base64.b64decode(aes_key_43 + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the EncodingAESKey is not base64") from exc
    if len(aes_key_43) != 43 or len(key) != 32:
        raise ValueError("the EncodingAESKey must be 43 characters (32 bytes)")
    return key


# -- the envelope and the message ------------------------------------------------------------


def _xml_root(data: bytes) -> ElementTree.Element:
    """Parse untrusted XML: bounded, UTF-8 only, no DTD and therefore no entities."""
    if len(data) > MAX_BODY_BYTES:
        raise PushError("push_malformed", "too large")
    upper = data.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise PushError("push_malformed", "DTD or entity declarations")
    try:
        # parsed as str, so that a declared encoding (UTF-16…) cannot hide a DTD from the check above
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PushError("push_malformed", "not UTF-8") from exc
    if "\x00" in text:
        raise PushError("push_malformed", "NUL in XML")
    try:
        return ElementTree.fromstring(text)  # noqa: S314 - bounded, no DTD, no entities: checked above
    except ElementTree.ParseError as exc:
        raise PushError("push_malformed", "bad XML") from exc


def _xml_value(element: ElementTree.Element) -> Any:
    children = list(element)
    if not children:
        text = element.text or ""
        if element.tag in _INT_FIELDS and _INTEGER.fullmatch(text.strip()):
            return int(text.strip())
        return text
    value: dict[str, Any] = {}
    for child in children:
        item = _xml_value(child)
        if child.tag in _LIST_FIELDS:
            value.setdefault(child.tag, []).append(item)
        elif child.tag in value:  # a repeated element: a list
            if not isinstance(value[child.tag], list):
                value[child.tag] = [value[child.tag]]
            value[child.tag].append(item)
        else:
            value[child.tag] = item
    return value


def _json_object(data: bytes) -> dict[str, Any]:
    if len(data) > MAX_BODY_BYTES:
        raise PushError("push_malformed", "too large")
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise PushError("push_malformed", "bad JSON") from exc
    if not isinstance(value, dict):
        raise PushError("push_malformed", "JSON is not an object")
    return value


def _looks_like_json(data: bytes, content_type: str | None) -> bool:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind.endswith("json"):
        return True
    if kind.endswith("xml"):
        return False
    return data.lstrip()[:1] == b"{"


def parse_envelope(body: bytes, content_type: str | None) -> dict[str, str]:
    """The outer POST body, JSON `{"ToUserName", "Encrypt"}` or the XML equivalent, as its text
    fields. Raises PushError("push_malformed") unless it carries a non-empty Encrypt."""
    if len(body) > MAX_BODY_BYTES:
        raise PushError("push_malformed", "too large")
    if _looks_like_json(body, content_type):
        fields = {k: v for k, v in _json_object(body).items() if isinstance(v, str)}
    else:
        root = _xml_root(body)
        fields = {child.tag: child.text or "" for child in root if len(child) == 0}
    if not fields.get("Encrypt"):
        raise PushError("push_malformed", "no Encrypt")
    return fields


def parse_message(plain: bytes) -> dict[str, Any]:
    """A decrypted message (JSON or XML) as a dict. XML elements with children become dicts,
    `detail` is always a list, and WeChat's numeric fields (CreateTime, version, errcode, label,
    prob…) are ints in both forms; other XML leaves are their text."""
    if plain.lstrip()[:1] == b"{":
        return _json_object(plain)
    value = _xml_value(_xml_root(plain))
    if not isinstance(value, dict):
        raise PushError("push_malformed", "empty XML message")
    return value


# -- safe mode --------------------------------------------------------------------------------


def decrypt(
    token: str, aes_key_43: str, appid: str, *, timestamp: str, nonce: str, msg_signature: str, encrypt: str
) -> bytes:
    """The message inside `encrypt`, after checking msg_signature (which covers the ciphertext),
    the padding, the length and that the appid inside is ours. Raises PushError; a malformed
    EncodingAESKey (our configuration, not the sender's fault) raises ValueError."""
    key = _aes_key(aes_key_43)
    if not token or not _same(sign(token, timestamp, nonce, encrypt), msg_signature):
        raise PushError("push_signature_invalid")
    try:
        data = base64.b64decode(encrypt, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PushError("push_decrypt_failed", "Encrypt is not base64") from exc
    if not data or len(data) % 16:
        raise PushError("push_decrypt_failed", "ciphertext is not whole AES blocks")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= BLOCK_SIZE or pad > len(plain) or plain[-pad:] != bytes([pad]) * pad:
        raise PushError("push_decrypt_failed", "bad padding")
    content = plain[:-pad]
    if len(content) < _RANDOM_BYTES + 4:
        raise PushError("push_decrypt_failed", "too short")
    (length,) = struct.unpack(">I", content[_RANDOM_BYTES : _RANDOM_BYTES + 4])
    start = _RANDOM_BYTES + 4
    if start + length > len(content):
        raise PushError("push_decrypt_failed", "bad length")
    message, from_appid = content[start : start + length], content[start + length :]
    if not hmac.compare_digest(from_appid, appid.encode()):
        raise PushError("push_appid_mismatch")
    return message


def encrypt(
    token: str,
    aes_key_43: str,
    appid: str,
    message: bytes,
    *,
    timestamp: str,
    nonce: str,
    random_prefix: bytes | None = None,
) -> tuple[str, str]:
    """(Encrypt, msg_signature) as WeChat would send `message`: for the fake and the tests.
    `random_prefix` (16 bytes) is random unless given."""
    key = _aes_key(aes_key_43)
    prefix = os.urandom(_RANDOM_BYTES) if random_prefix is None else random_prefix
    if len(prefix) != _RANDOM_BYTES:
        raise ValueError("random_prefix must be 16 bytes")
    content = prefix + struct.pack(">I", len(message)) + message + appid.encode()
    pad = BLOCK_SIZE - len(content) % BLOCK_SIZE
    content += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    encrypted = base64.b64encode(encryptor.update(content) + encryptor.finalize()).decode()
    return encrypted, sign(token, timestamp, nonce, encrypted)


def open_push(
    token: str,
    aes_key_43: str,
    appid: str,
    *,
    body: bytes,
    content_type: str | None,
    timestamp: str,
    nonce: str,
    msg_signature: str,
) -> dict[str, Any]:
    """A safe-mode POST from envelope to message dict: parse_envelope, decrypt, parse_message."""
    envelope = parse_envelope(body, content_type)
    plain = decrypt(
        token,
        aes_key_43,
        appid,
        timestamp=timestamp,
        nonce=nonce,
        msg_signature=msg_signature,
        encrypt=envelope["Encrypt"],
    )
    return parse_message(plain)
