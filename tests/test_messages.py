"""Every zh-CN message Linli writes is free of English words: read off the source, so that a
message no test happens to provoke is checked too (the contract hook checks the ones that are)."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.contract import FIELD_WORDS, english_in

ROOT = Path(__file__).resolve().parent.parent / "api"
# the exceptions whose message reaches a resident: Linli's errors, and what validators raise
ERRORS = {
    "AppError",
    "BadRequest",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "Unprocessable",
    "TooManyRequests",
    "ServiceUnavailable",
    "ImageRejected",
    "ImportRejected",
    "PydanticCustomError",
}
# these say what a developer or operator did wrong (settings at start-up, programming slips):
# they are not shown to residents and stay in English
EXEMPT_FILES = {"config.py", "wechat_push.py", "s3_fake.py", "wechat_fake.py", "pdf.py", "xlsx.py", "cli.py"}


def _literal_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else " X " for v in node.values)
    return None


def _messages() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.name in EXEMPT_FILES or "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name == "ValueError" and "schemas" not in path.parts and path.name != "validation.py":
                continue  # outside request models a ValueError is a programming slip, not a message
            if name not in ERRORS and name != "ValueError":
                continue
            args = [*node.args, *(k.value for k in node.keywords if k.arg in ("message", "message_template"))]
            for arg in args:
                text = _literal_text(arg)
                if text is not None and (name == "ValueError" or any("\u4e00" <= ch <= "\u9fff" for ch in text)):
                    found.append((str(path.relative_to(ROOT.parent)), node.lineno, text))
    return found


def test_messages_are_read_off_the_source():
    messages = _messages()
    assert len(messages) > 200  # the scan finds the project's messages at all


def test_no_message_holds_english_words():
    offenders = [
        f"{where}:{line}: {text!r} → {english}"
        for where, line, text in _messages()
        if (english := english_in(text, FIELD_WORDS | {"X"}))
    ]
    assert not offenders, "\n".join(offenders)
