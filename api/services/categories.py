"""The categories screens offer, with their zh-CN labels. One definition (`CATEGORY_LABELS`, next
to the `Category` type): the mini-program reads it here instead of keeping its own copy."""

from __future__ import annotations

from typing import get_args

from api.schemas.activities import CATEGORY_LABELS, Category


def categories() -> dict[str, list[dict[str, str]]]:
    """Every activity category in the order the type declares them (the order the screens list
    them), each with its label. Static: the same for everyone, logged in or not."""
    return {"activity": [{"value": value, "label": CATEGORY_LABELS[value]} for value in get_args(Category)]}
