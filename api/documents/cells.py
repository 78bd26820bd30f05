"""What a cell of an exported table is, shared by the XLSX and CSV writers: the formula guard and
the display width of a text."""

from __future__ import annotations

import unicodedata

# a spreadsheet program reads a cell starting with one of these as a formula (=1+2, +1, -1, @SUM,
# and a tab or carriage return before one): a name or a note typed by a resident must stay text
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def looks_like_formula(text: str) -> bool:
    return text.startswith(FORMULA_STARTS)


def guarded(text: str) -> str:
    """The text with a leading apostrophe when a spreadsheet would take it for a formula (the
    apostrophe is what a user types in Excel or WPS to say "this is text")."""
    return "'" + text if looks_like_formula(text) else text


def display_width(text: str) -> int:
    """How many columns of Latin characters the text is as wide as on screen: Chinese, Japanese
    and Korean characters and full-width forms count two. The widest line of a multi-line text."""
    return max(
        (sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in line) for line in text.split("\n")),
        default=0,
    )
