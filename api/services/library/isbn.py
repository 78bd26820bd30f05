"""ISBN-10 and ISBN-13: checked and kept as ISBN-13 digits (an ISBN-10 becomes 978 + its digits)."""

from __future__ import annotations

import re
import unicodedata

_SEPARATORS = re.compile(r"[\s\-‐‑–—_]")


def _isbn13_check(first12: str) -> str:
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def _isbn10_valid(digits: str) -> bool:
    total = sum((10 - i) * (10 if c in "Xx" else int(c)) for i, c in enumerate(digits))
    return total % 11 == 0


def normalise(raw: str) -> str:
    """ISBN-13 digits for a valid ISBN-10 or ISBN-13 (hyphens and spaces allowed, "ISBN" prefix
    too); ValueError for anything else."""
    text = _SEPARATORS.sub("", unicodedata.normalize("NFKC", raw).strip()).upper().removeprefix("ISBN").lstrip(":")
    if re.fullmatch(r"[0-9]{9}[0-9X]", text):
        if not _isbn10_valid(text):
            raise ValueError("ISBN-10 的校验位不对")
        core = "978" + text[:9]
        return core + _isbn13_check(core)
    if re.fullmatch(r"97[89][0-9]{10}", text):
        if _isbn13_check(text[:12]) != text[12]:
            raise ValueError("ISBN-13 的校验位不对")
        return text
    raise ValueError("应为 10 位或 13 位的 ISBN")
