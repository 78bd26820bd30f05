"""Every zh-CN message Linli writes is free of English words: read off the source, so that a
message no test happens to provoke is checked too (the contract hook checks the ones that are)."""

from __future__ import annotations

import ast
import re
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
EXEMPT_FILES = {"config.py", "wechat/push.py", "wechat/fake.py", "documents/pdf.py", "documents/xlsx.py", "cli.py"}


def _literal_text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else " X " for v in node.values)
    return None


def _messages() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.relative_to(ROOT).as_posix() in EXEMPT_FILES or "migrations" in path.parts:
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


# -- messages assembled from parts --------------------------------------------------------------
# A message is often built: joined from a list of problems, concatenated, filled in from a template
# ("{activity_title}"), or passed through a helper. Rather than follow each path, every piece of
# Chinese text in the source must be free of English (a piece of a message is a piece of Chinese
# text), and no message may be made of an exception's own words, which are English for anything
# but Linli's own checks.

# Chinese text that is not a message: the importer's accepted column headers, the product's name
NOT_MESSAGES = {"isbn号", "Linli 邻里"}
_PLACEHOLDER = re.compile(r"\{[a-z_]+\}")
# an exception whose message is Linli's own zh-CN text may be passed on: where, and which it is
OWN_WORDS = {
    ("api/services/feed/media.py", "ImageRejected"),  # api/media/images.py's refusals
    ("api/services/library/books.py", "ValueError"),  # isbn.normalise
    ("api/services/library/importer.py", "ValueError"),  # isbn.normalise, _ages
    ("api/services/notifications/catalogue.py", "ValueError"),  # start-up configuration: for operators
}
# the functions those ValueErrors come from: each of their messages must be zh-CN
OWN_SOURCES = {"api/services/library/isbn.py": {"normalise"}, "api/services/library/importer.py": {"_ages"}}
# what an exception may lend a message for machines (a WeChat errcode, an image's code and details)
MACHINE_ATTRIBUTES = {"errcode", "code", "details"}


def _chinese_texts() -> list[tuple[str, int, str]]:
    """Every piece of Chinese text in the source, placeholders as X, outside docstrings and the
    OpenAPI's descriptions (documentation, which may name fields)."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        if path.relative_to(ROOT).as_posix() in EXEMPT_FILES or "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip: set[int] = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
                skip.add(id(body[0].value))  # a docstring
            if isinstance(node, ast.keyword) and node.arg in ("description", "summary"):
                skip.update(id(sub) for sub in ast.walk(node.value))
            if isinstance(node, ast.JoinedStr):
                skip.update(id(value) for value in node.values)  # read as one below
        for node in ast.walk(tree):
            if id(node) in skip:
                continue
            text = _literal_text(node)
            if text is not None and any("\u4e00" <= ch <= "\u9fff" for ch in text) and text not in NOT_MESSAGES:
                found.append((str(path.relative_to(ROOT.parent)), node.lineno, _PLACEHOLDER.sub(" X ", text)))
    return found


def test_every_piece_of_chinese_text_is_free_of_english():
    texts = _chinese_texts()
    assert len(texts) > len(_messages())  # beyond the messages: their parts, templates, notifications
    offenders = [
        f"{where}:{line}: {text!r} → {english}"
        for where, line, text in texts
        if (english := english_in(text, FIELD_WORDS | {"X"}))
    ]
    assert not offenders, "\n".join(offenders)


def _handled_as(handler: ast.ExceptHandler) -> set[str]:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return {n.id if isinstance(n, ast.Name) else getattr(n, "attr", "") for n in names if n is not None}


def test_no_message_is_made_of_an_exceptions_words():
    offenders = []
    for path in sorted(ROOT.rglob("*.py")):
        where = str(path.relative_to(ROOT.parent))
        if "migrations" in path.parts:
            continue
        for handler in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(handler, ast.ExceptHandler) or handler.name is None:
                continue
            if all((where, kind) in OWN_WORDS for kind in _handled_as(handler)):
                continue
            for node in ast.walk(ast.Module(body=handler.body, type_ignores=[])):
                if not isinstance(node, ast.Call):
                    continue
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
                if name not in ERRORS and name not in ("add", "append"):  # an error, or a list of problems
                    continue
                parts = [*node.args[1:], *(k.value for k in node.keywords if k.arg in ("message", "details"))]
                if name not in ERRORS:
                    parts = list(node.args)
                machine = {
                    id(a.value) for p in parts for a in ast.walk(p)
                    if isinstance(a, ast.Attribute) and a.attr in MACHINE_ATTRIBUTES
                }  # fmt: skip
                if any(isinstance(n, ast.Name) and n.id == handler.name and id(n) not in machine
                       for p in parts for n in ast.walk(p)):  # fmt: skip
                    offenders.append(f"{where}:{node.lineno}: {ast.unparse(node)[:100]}")
    assert not offenders, "messages made of an exception's (English) words:\n" + "\n".join(offenders)


def test_the_exceptions_whose_words_are_passed_on_speak_chinese():
    for where, functions in OWN_SOURCES.items():
        tree = ast.parse((ROOT.parent / where).read_text(encoding="utf-8"))
        raised = [
            node
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef) and function.name in functions
            for node in ast.walk(function)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "ValueError"
        ]
        assert raised, where
        for call in raised:
            text = _literal_text(call.args[0]) if call.args else None
            assert text is not None and any("\u4e00" <= ch <= "\u9fff" for ch in text), f"{where}:{call.lineno}"
            assert not english_in(text, FIELD_WORDS | {"X"}), f"{where}:{call.lineno}: {text}"
